# frozen_string_literal: true

module Prosody
  # Fills two gaps in the fiber scheduler of async 1.x (the gemspec allows 1.30), so handler
  # code behaves as it does without a scheduler (async 2 needs neither):
  # - a bare `sleep` waits until the fiber is woken or stopped; async 1.30 required a duration
  #   and raised ArgumentError;
  # - `Timeout.timeout` raises in the fiber that called it, at its next blocking call. Without
  #   the scheduler's `timeout_after`, Ruby falls back to a thread that raises into the
  #   processor thread wherever it happens to be, even inside the reactor, killing it.
  # @api private
  module SchedulerCompat
    # Patches `scheduler` (this processor's only) where it lacks either.
    def self.apply(scheduler)
      return unless scheduler

      scheduler.singleton_class.prepend(SleepForever) if scheduler.method(:kernel_sleep).arity == 1
      scheduler.extend(TimeoutAfter) unless scheduler.respond_to?(:timeout_after)
    end

    # `sleep` without a duration.
    module SleepForever
      # nil: no timeout, so the fiber blocks until something resumes or stops it.
      def kernel_sleep(duration = nil)
        super
      end
    end

    # The hook `Timeout.timeout` uses when a scheduler has it.
    module TimeoutAfter
      def timeout_after(duration, exception, _message, &block)
        @reactor.with_timeout(duration, exception) { block.call(duration) }
      end
    end
  end
end
