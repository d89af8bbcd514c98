# frozen_string_literal: true

module Prosody
  # Which message (or timer event) the current fiber is handling, so that a `send_message` made
  # there continues its trace and baggage: the record sent carries a `traceparent` in the same
  # trace, instead of starting a new one, and the same `baggage`.
  #
  # On Ruby 3.2 and later this is fiber storage, which threads and fibers started by the
  # handler inherit. On Ruby 3.1 it is a fiber-local, which threads started by the handler
  # take along ({ThreadInheritance}); fibers it starts do not see it there.
  # With the `opentelemetry-api` gem loaded, the block also runs in the message's
  # OpenTelemetry context ({OtelBridge}).
  #
  # @api private
  module TraceScope
    KEY = :__prosody_handling
    # The subsystem whose consumer runs the handler, so a request can tell that it would wait
    # for itself (see {Requests}).
    SUBSYSTEM_KEY = :__prosody_subsystem

    if Fiber.respond_to?(:[]=)
      # Runs the block with `message` (a Message or a timer's Context) as the current
      # fiber's, handled for `subsystem` (nil for a client without one).
      def self.with(message, subsystem = nil, &)
        Fiber[KEY] = message
        Fiber[SUBSYSTEM_KEY] = subsystem if subsystem
        OtelBridge.within(message, &)
      ensure
        Fiber[KEY] = nil
        Fiber[SUBSYSTEM_KEY] = nil if subsystem
      end

      # @return [Prosody::Message, Prosody::Context, nil]
      def self.current
        Fiber[KEY]
      end

      # @return [String, nil]
      def self.subsystem
        Fiber[SUBSYSTEM_KEY]
      end
    else
      def self.with(message, subsystem = nil, &)
        Thread.current[KEY] = message
        Thread.current[SUBSYSTEM_KEY] = subsystem if subsystem
        OtelBridge.within(message, &)
      ensure
        Thread.current[KEY] = nil
        Thread.current[SUBSYSTEM_KEY] = nil if subsystem
      end

      def self.current
        Thread.current[KEY]
      end

      def self.subsystem
        Thread.current[SUBSYSTEM_KEY]
      end

      # Ruby 3.1 has no inheritable fiber storage, so a thread started while a message is
      # current runs its block inside that message's scope, as it would on 3.2.
      module ThreadInheritance
        %i[new start fork].each do |name|
          define_method(name) do |*args, &block|
            message = TraceScope.current
            return super(*args, &block) unless message && block

            subsystem = TraceScope.subsystem
            super(*args) { |*given| TraceScope.with(message, subsystem) { block.call(*given) } }
          end
        end
      end
      Thread.singleton_class.prepend(ThreadInheritance)
    end
  end
end
