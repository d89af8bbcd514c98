# frozen_string_literal: true

module Prosody
  # Which message (or timer event) the current fiber is handling, so that a `send_message` made
  # there continues its trace and baggage: the record sent carries a `traceparent` in the same
  # trace, instead of starting a new one, and the same `baggage`.
  #
  # On Ruby 3.2 and later this is fiber storage, which threads and fibers started by the
  # handler inherit. On Ruby 3.1 it is a fiber-local, seen only by the handler's own fiber.
  # With the `opentelemetry-api` gem loaded, the block also runs in the message's
  # OpenTelemetry context ({OtelBridge}).
  #
  # @api private
  module TraceScope
    KEY = :__prosody_handling

    if Fiber.respond_to?(:[]=)
      # Runs the block with `message` (a Message or a timer's Native::Event) as the current
      # fiber's.
      def self.with(message, &)
        Fiber[KEY] = message
        OtelBridge.within(message, &)
      ensure
        Fiber[KEY] = nil
      end

      # @return [Prosody::Message, Prosody::Native::Event, nil]
      def self.current
        Fiber[KEY]
      end
    else
      def self.with(message, &)
        Thread.current[KEY] = message
        OtelBridge.within(message, &)
      ensure
        Thread.current[KEY] = nil
      end

      def self.current
        Thread.current[KEY]
      end
    end
  end
end
