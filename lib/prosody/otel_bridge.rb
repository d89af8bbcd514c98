# frozen_string_literal: true

module Prosody
  # Joins Prosody's trace context with the `opentelemetry-api` gem's, when the application has
  # loaded it (Prosody does not depend on it):
  #
  # - a handler runs inside its message's OpenTelemetry context, so spans the application
  #   starts there are children of the message's `receive` span, and `OpenTelemetry::Baggage`
  #   holds the message's W3C baggage;
  # - `send_message` continues Ruby's current span when one is active, so a record sent from
  #   inside such a span is its child, and carries Ruby's current baggage, if any.
  #
  # Without the gem both are plain pass-throughs, and Prosody's own per-fiber context
  # ({TraceScope}) carries a handler's trace to its sends.
  #
  # @api private
  module OtelBridge
    module_function

    # Whether the application loaded the parts of `opentelemetry-api` this uses.
    def available?
      defined?(::OpenTelemetry::Context) && defined?(::OpenTelemetry::Trace) &&
        ::OpenTelemetry.respond_to?(:propagation)
    end

    # Whether the application loaded the API's baggage part too.
    def baggage_available?
      available? && defined?(::OpenTelemetry::Baggage)
    end

    # Runs the block inside `message`'s OpenTelemetry context, its baggage included (the block
    # alone without the gem, or when the message has neither trace context nor baggage).
    def within(message, &)
      return yield unless available?

      # A timer's scope is its Context, which keeps these two private.
      traceparent = message.__send__(:traceparent)
      baggage = baggage_available? ? message.__send__(:baggage) : {}
      return yield if traceparent.nil? && baggage.empty?

      context = ::OpenTelemetry::Context.current
      context = ::OpenTelemetry.propagation.extract({ "traceparent" => traceparent }) if traceparent
      context = with_baggage(context, baggage) unless baggage.empty?
      ::OpenTelemetry::Context.with_current(context, &)
    end

    # Ruby's current OpenTelemetry baggage as a Hash, or nil without the gem or when it is
    # empty (a send then carries the handled message's baggage, if any).
    def current_baggage
      return unless baggage_available?

      values = ::OpenTelemetry::Baggage.values
      values unless values.empty?
    end

    # `context` with `baggage`'s entries added.
    def with_baggage(context, baggage)
      ::OpenTelemetry::Baggage.build(context:) do |builder|
        baggage.each { |key, value| builder.set_value(key, value) }
      end
    end

    # The `traceparent` of Ruby's current OpenTelemetry span, or nil without the gem or an
    # active, valid span.
    def current_traceparent
      return unless available?
      return unless ::OpenTelemetry::Trace.current_span.context.valid?

      carrier = {}
      ::OpenTelemetry.propagation.inject(carrier)
      carrier["traceparent"]
    end
  end
end
