# frozen_string_literal: true

module Prosody
  # Notices a handler that holds its processor thread without yielding.
  #
  # Every handler of a subscription runs on one thread, so a handler that computes without
  # yielding (a busy loop, a long call into C) stops every other key until it returns. A ticker
  # fiber on the processor's reactor notes the time on each turn; this watch, a plain thread,
  # sees the note go stale and logs a WARN naming what is running and where the thread is. Ruby
  # gives the watch its time slices even while the handler holds the GVL.
  #
  # @api private
  class StallWatch
    # Seconds between ticks, and between the watch's looks.
    TICK = 0.5
    # Seconds without a tick that count as a blocked processor.
    THRESHOLD = 3.0

    # @param source [#running, #thread] the processor: what its workers run, and its thread
    # @param logger [Logger]
    def initialize(source, logger)
      @source = source
      @logger = logger
      @tick = now
    end

    # Runs on the reactor for the processor's lifetime.
    def tick
      loop do
        @tick = now
        sleep TICK
      end
    end

    # Starts watching.
    # @return [self]
    def start
      @thread = Thread.new { watch }
      @thread.name = "prosody-stall-watch"
      self
    end

    # Stops watching.
    def stop
      @thread&.kill&.join
    end

    # How long the reactor has gone without a tick, in seconds.
    def blocked_for
      now - @tick
    end

    private

    def watch
      warned = false
      loop do
        sleep TICK
        blocked = blocked_for
        if blocked < THRESHOLD
          warned = false
        elsif !warned
          warned = true
          warn_blocked(blocked)
        end
      end
    end

    def warn_blocked(blocked)
      running = @source.running
      where = @source.thread&.backtrace&.first
      @logger.warn("prosody: a handler has held the processor thread for #{blocked.round(1)}s " \
                   "without yielding, so no other key can run (running: " \
                   "#{running.empty? ? "unknown" : running.join(", ")}; at #{where || "unknown"})")
    end

    def now
      Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
