# frozen_string_literal: true

module Prosody
  # What {Client#subscribe} asks of a handler: `on_message` and `on_timer`, and optionally
  # `on_excise`, each taking (context, event).
  #
  # @api private
  module HandlerContract
    # The handlers' methods every handler defines.
    REQUIRED = %i[on_message on_timer].freeze

    module_function

    # Checks `handler` and returns whether it takes excise records (defines `on_excise`).
    # @param handler [Object]
    # @return [Boolean]
    # @raise [ArgumentError] naming the method that is missing or takes the wrong arguments
    def check(handler)
      REQUIRED.each do |name|
        unless handler.respond_to?(name)
          raise ArgumentError, "handler #{handler.class} must respond to #{name}(context, message)"
        end

        check_arity(handler, name)
      end
      return false unless handler.respond_to?(:on_excise)

      check_arity(handler, :on_excise)
      true
    end

    def check_arity(handler, name)
      arity = handler.method(name).arity
      return if arity == 2 || (arity.negative? && arity >= -3)

      raise ArgumentError,
            "#{handler.class}##{name} must take two arguments (context, event), takes #{arity}"
    end
  end
end
