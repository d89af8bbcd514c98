# frozen_string_literal: true

module Prosody
  # What `send_message` does with a payload JSON alone cannot represent (a Time, a BigDecimal,
  # a record): where ActiveSupport defines `as_json`, the payload goes through it, as Rails'
  # own `to_json` would serialise it.
  module AsJson
    module_function

    # @param payload [Object] what the engine refused
    # @param error [TypeError] the engine's refusal, naming the value at fault
    # @return [Object] the payload's `as_json`
    # @raise [TypeError] `error` itself when `as_json` is missing or fails: it says more
    def convert(payload, error)
      raise error unless payload.respond_to?(:as_json)

      begin
        payload.as_json
      rescue StandardError
        raise error
      end
    end
  end
end
