# frozen_string_literal: true

require "securerandom"

# A stand-in for the part of the `opentelemetry-api` gem that Prosody::OtelBridge calls
# (`Context.current`/`with_current`, `Trace.current_span`, a W3C `propagation`, `Baggage`'s
# `values` and `build`), for checking
# the bridge where the gem is not installed. Loaded only in a child process: it defines the
# top-level ::OpenTelemetry. The real gem is checked by otel_bridge_spec.rb where present.
module OpenTelemetry
  SpanContext = Struct.new(:trace_id, :span_id) do
    def valid? = !trace_id.nil?
  end
  Span = Struct.new(:context)
  INVALID = Span.new(SpanContext.new(nil, nil))

  # The current span and baggage, per fiber.
  class Context
    attr_reader :span, :baggage

    def initialize(span, baggage = {})
      @span = span
      @baggage = baggage.freeze
    end

    def self.current = Thread.current[:otel_stand_in] || new(INVALID)

    def self.with_current(context)
      previous = Thread.current[:otel_stand_in]
      Thread.current[:otel_stand_in] = context
      yield
    ensure
      Thread.current[:otel_stand_in] = previous
    end
  end

  # Spans: the current one, and a child of it for the block.
  module Trace
    def self.current_span = Context.current.span

    def self.in_child_span
      parent = current_span.context
      span = Span.new(SpanContext.new(parent.trace_id || SecureRandom.hex(16), SecureRandom.hex(8)))
      Context.with_current(Context.new(span, Context.current.baggage)) { yield span }
    end
  end

  # W3C trace context in a Hash carrier.
  class Propagator
    def extract(carrier)
      _, trace, span, = carrier.fetch("traceparent", "").split("-")
      Context.new(trace ? Span.new(SpanContext.new(trace, span)) : INVALID)
    end

    def inject(carrier)
      context = Trace.current_span.context
      carrier["traceparent"] = "00-#{context.trace_id}-#{context.span_id}-01" if context.valid?
    end
  end

  # Baggage as a Hash in the context; `build` yields a builder and returns a new context.
  module Baggage
    # Collects `set_value` calls.
    class Builder
      attr_reader :entries

      def initialize(entries)
        @entries = entries.dup
      end

      def set_value(key, value, metadata: nil) # rubocop:disable Lint/UnusedMethodArgument -- the API's signature
        @entries[key] = value
      end
    end

    def self.values(context: Context.current) = context.baggage

    def self.build(context: Context.current)
      builder = Builder.new(context.baggage)
      yield builder
      Context.new(context.span, builder.entries)
    end
  end

  def self.propagation = (@propagation ||= Propagator.new)
end
