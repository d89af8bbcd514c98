# frozen_string_literal: true

require "async"
require "async/wrapper"

module Prosody
  # Runs one subscription's handlers on a dedicated thread with an Async reactor.
  #
  # The dispatcher fiber drains events from the native bridge in batches, with the GVL held,
  # and hands each one straight to an idle worker from a fixed pool of long-lived fibers (one
  # per unit of `max_concurrency`). No fiber, task or thread is created per event. When the
  # bridge is empty the dispatcher sleeps on the bridge's wake-up pipe through the reactor, so
  # workers blocked on IO keep running. Every outcome, including exceptions that are not
  # StandardErrors, is reported back to the engine exactly once.
  class Processor
    # Events taken from the bridge per turn.
    BATCH_SIZE = 128

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
      @idle = []
      @pending = []
      @busy = {}
      @workers = []
    end

    # Starts the processor thread.
    # @return [self]
    def start
      @thread = Thread.new { run }
      @thread.name = "prosody-processor"
      @thread.report_on_exception = true
      self
    end

    # Closes the bridge and waits for the thread to finish.
    # @return [void]
    def stop
      @bridge.close
      @thread&.join
    end

    # @api private
    def next_event(worker)
      return nil if @pending.empty?

      worker.assign(@pending.shift, @pending.shift)
      true
    end

    # @api private
    def park(worker)
      # During a dispatch turn the dispatcher flushes once at the end; a worker finishing on its
      # own (after IO) flushes so its outcome does not wait for the next turn.
      @bridge.flush unless @dispatching
      @idle.push(worker)
    end

    # @api private
    def busy(context, worker)
      @busy[context.__id] = [worker, context]
    end

    # @api private
    def done(context)
      @busy.delete(context.__id)
    end

    # @api private
    def retire(worker)
      @workers.delete(worker)
      @idle.delete(worker)
    end

    # @api private
    def run_handler(context, event)
      if event.is_a?(Timer)
        @handler.on_timer(context, event)
      else
        @handler.on_message(context, event)
      end
    end

    attr_reader :logger, :tags

    private

    def run
      Async do |task|
        @task = task
        @concurrency.times { spawn_worker }
        dispatch_loop(task)
        @workers.dup.each { |worker| worker.task.stop }
      end
    end

    def dispatch_loop(task)
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
        dispatch_turn(batch)
        refill_pool
        @bridge.flush
        task.yield
      end
    end

    def dispatch_turn(batch)
      @dispatching = true
      deliver(batch)
    ensure
      @dispatching = false
    end

    def deliver(batch)
      index = 0
      while index < batch.size
        first = batch[index]
        second = batch[index + 1]
        index += 2
        if second.nil?
          cancel(first)
        else
          hand_off(first, second)
        end
      end
    end

    def hand_off(context, message)
      worker = @idle.pop
      if worker
        worker.assign(context, message)
        worker.fiber.resume
      else
        @pending.push(context, message)
      end
    end

    # Runs the context's on_cancel callbacks, then wakes a fiber waiting in `on_cancel` or, if
    # none, raises the stop exception in the handler's fiber.
    def cancel(id)
      worker, context = @busy[id]
      return unless worker

      worker.task.stop unless context.__cancel(@logger)
    end

    def refill_pool
      spawn_worker while @workers.size < @concurrency
    end

    def spawn_worker
      worker = Worker.new(self)
      @workers << worker
      worker.task = @task.async { worker.run }
      worker
    end
  end
end
