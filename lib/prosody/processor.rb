# frozen_string_literal: true

require "async"
require "async/wrapper"
require_relative "scheduler_compat"

module Prosody
  # Runs one subscription's handlers on a dedicated thread with an Async reactor.
  #
  # The dispatcher fiber drains events from the native bridge in batches, with the GVL held,
  # and gives each batch to the {WorkerPool}, which hands every event straight to an idle
  # worker from a fixed pool of long-lived fibers (one per unit of `max_concurrency`). No
  # fiber, task or thread is created per event. When the bridge is empty the dispatcher sleeps
  # on the bridge's wake-up pipe through the reactor, so workers blocked on IO keep running.
  # Outcomes are sent to the engine once per turn (see Bridge#flush).
  class Processor
    # Events taken from the bridge per turn.
    BATCH_SIZE = 128

    # Seconds {#stop} waits for the thread, once the engine has stopped, before stopping it by
    # force; and again after that before leaving it.
    STOP_GRACE = 2

    # The exception Async raises in a stopped fiber (newer async renames it Async::Cancel).
    STOP = defined?(Async::Cancel) ? Async::Cancel : Async::Stop

    # @param handler [#on_message, #on_timer] the user's handler
    # @param bridge [Prosody::Native::Bridge] the native event source
    # @param concurrency [Integer] how many handlers may run at once
    # @param logger [Logger]
    # @param tags [Hash{Symbol => Object}] the consumer's details added to every error report
    #   (see `prosody/sentry`), such as its group id and mode
    def initialize(handler, bridge, concurrency:, logger:, tags: {})
      @handler = handler
      @bridge = bridge
      @concurrency = concurrency
      @logger = logger
      @tags = tags.compact.freeze
    end

    # @return [Thread, nil] the processor thread, once started
    attr_reader :thread

    # Starts the processor thread.
    # @return [self]
    def start
      @watch = StallWatch.new(self, @logger)
      @thread = Thread.new { run }
      @thread.name = "prosody-processor"
      @thread.report_on_exception = true
      @watch.start
      self
    end

    # What the handlers are running now (see Worker#running), for logs.
    # @return [Array<String>]
    def running
      @pool&.running || []
    end

    # Closes the bridge and waits for the thread to finish. A handler that holds the thread
    # without yielding cannot make this wait forever: past {STOP_GRACE} the thread is killed,
    # and if even that does not end it, it is left running, with an error logged either way.
    # @return [void]
    def stop
      @bridge.close
      return if @thread.nil? || @thread.join(STOP_GRACE)

      @logger.error("prosody: a handler did not yield within #{STOP_GRACE}s of unsubscribe " \
                    "(#{running.join(", ")}); killing the processor thread, which leaves its " \
                    "event uncommitted for redelivery")
      @thread.kill
      return if @thread.join(STOP_GRACE)

      @logger.error("prosody: the processor thread ignored being killed; leaving it running")
    ensure
      @watch&.stop
    end

    private

    def run
      Async do |task|
        SchedulerCompat.apply(Fiber.scheduler)
        @pool = WorkerPool.new(task, @bridge, @concurrency, logger: @logger) do |owner|
          Worker.new(owner, @handler, logger: @logger, tags: @tags)
        end
        ticker = task.async { @watch.tick }
        dispatch_loop(task, @pool)
        ticker.stop
        @pool.stop
      end
    end

    def dispatch_loop(task, pool)
      wrapper = Async::Wrapper.new(IO.for_fd(@bridge.fileno, autoclose: false))
      loop do
        batch = @bridge.poll(BATCH_SIZE)
        break if batch.nil?

        if batch.empty?
          @bridge.flush
          wrapper.wait_readable
          @bridge.drain_wakeups
          next
        end
        pool.dispatch(batch)
        @bridge.flush
        task.yield
      end
    end
  end
end
