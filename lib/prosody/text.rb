# frozen_string_literal: true

module Prosody
  # Checks the text arguments that become Kafka topics and keys: Strings (or Symbols) that can
  # be UTF-8, since the engine carries them as UTF-8.
  # @api private
  module Text
    module_function

    # @param value [String, Symbol]
    # @param name [String] the argument's name, for the error
    # @return [String] `value`, or a Symbol's name
    # @raise [TypeError] naming the argument, for another class or text that is not UTF-8
    def check(value, name)
      return value.to_s if value.is_a?(Symbol)
      raise TypeError, "#{name} must be a String, got #{value.class}" unless value.is_a?(String)
      return value if value.valid_encoding? && utf8_compatible?(value)

      raise TypeError, "#{name} is not valid UTF-8 (#{value.encoding} bytes " \
                       "#{value.byteslice(0, 16).inspect}); Kafka keys and topics are UTF-8 text"
    end

    def utf8_compatible?(string)
      string.encoding == Encoding::UTF_8 || string.ascii_only? ||
        string.encode(Encoding::UTF_8).valid_encoding?
    rescue EncodingError
      false
    end
  end
end
