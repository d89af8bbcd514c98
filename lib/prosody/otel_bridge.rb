# frozen_string_literal: true

module Prosody
  # Joins Prosody's trace context with the `opentelemetry-api` gem's, when the application has
  # loaded it (Prosody does not depend on it):
  #
  # - a handler runs inside its message's OpenTelemetry context, so spans the application
  #   starts there are children of the message's `receive` span;
  # - `send_message` continues Ruby's current span when one is active, so a record sent from
  #   inside such a span is its child.
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

    # Runs the block inside `message`'s OpenTelemetry context (the block alone without the gem,
    # or when the message has no trace context).
    def within(message, &)
      traceparent = message.traceparent if available?
      return yield unless traceparent

      context = ::OpenTelemetry.propagation.extract({ "traceparent" => traceparent })
      ::OpenTelemetry::Context.with_current(context, &)
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
