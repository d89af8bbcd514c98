# frozen_string_literal: true

module Prosody
  # The pool of worker fibers behind one {Processor}, and the only owner of its workers.
  #
  # The dispatcher hands it each batch from the bridge ({#dispatch}): an event goes straight to
  # an idle worker, whose fiber is resumed at once, or waits in a backlog until a worker is
  # ready; a cancellation goes to the worker running that event. Workers tell the pool two
  # things, through {#ready} and {#retire}; nothing else of the pool is theirs to call. No
  # fiber, task or Array is created per event.
  #
  # Workers are made when an event finds none idle, up to `size`, and then live as long as the
  # pool: a large `max_concurrency` costs fibers only as far as events really run at once. When
  # Ruby cannot make another fiber (FiberError: out of memory or mappings), the pool logs it
  # and goes on with the workers it has.
  #
  # @api private
  class WorkerPool
    # What Bridge#poll pairs with an event id to cancel that event.
    CANCEL = :cancel

    # @param task [Async::Task] the task the workers run under
    # @param bridge [Prosody::Native::Bridge] flushed when a worker finishes between turns
    # @param size [Integer] the most workers to make
    # @param logger [Logger] told when no more fibers can be made
    # @yieldparam pool [WorkerPool] this pool
    # @yieldreturn [Worker] a new worker for this pool
    def initialize(task, bridge, size, logger:, &build)
      @task = task
      @bridge = bridge
      @size = size
      @logger = logger
      @build = build
      @workers = []
      @idle = []
      @backlog = []
      @busy = {}
      @dispatching = false
    end

    # Hands out one batch from Bridge#poll (pairs of event and payload, or id and {CANCEL}),
    # then makes workers for what is left in the backlog, if it may.
    def dispatch(batch)
      @dispatching = true
      index = 0
      while index < batch.size
        first = batch[index]
        second = batch[index + 1]
        index += 2
        CANCEL.equal?(second) ? cancel(first) : hand_off(first, second)
      end
      refill
    ensure
      @dispatching = false
    end

    # What the busy workers are running (see Worker#running). Read from other threads, which
    # only ever see a complete Hash: the GVL is held while it changes.
    def running
      @busy.values.filter_map(&:running)
    end

    # Stops every worker's fiber.
    def stop
      @workers.dup.each { |worker| worker.task.stop }
    end

    # A worker's first call, and its call after each event (`finished`): returns true with the
    # next backlog event assigned to it, or false with the worker parked until a hand-off.
    def ready(worker, finished)
      @busy.delete(finished.__send__(:id)) if finished
      return start(worker, @backlog.shift, @backlog.shift) unless @backlog.empty?

      # During a dispatch turn the dispatcher flushes once at the end; a worker finishing on its
      # own (after IO) flushes so its outcome does not wait for the next turn.
      @bridge.flush unless @dispatching
      @idle.push(worker)
      false
    end

    # A worker's last call, as its fiber ends (stopped while running `running`, or at shutdown).
    def retire(worker, running)
      @busy.delete(running.__send__(:id)) if running
      @workers.delete(worker)
      @idle.delete(worker)
    end

    private

    def hand_off(event, payload)
      spawn_worker if @idle.empty? && @workers.size < @size
      worker = @idle.pop
      return @backlog.push(event, payload) unless worker

      start(worker, event, payload)
      worker.fiber.resume
    end

    def start(worker, event, payload)
      @busy[event.__send__(:id)] = worker
      worker.assign(event, payload)
      true
    end

    def cancel(id)
      @busy[id]&.cancel
    end

    # A new worker's first call takes a backlog event, so this also replaces retired workers.
    def refill
      spawn_worker while !@backlog.empty? && @workers.size < @size
    end

    # The new worker parks itself as idle, or takes a backlog event and runs it.
    def spawn_worker
      worker = @build.call(self)
      @workers << worker
      worker.task = @task.async { worker.run }
    rescue FiberError => e
      @workers.delete(worker)
      raise if @workers.empty?

      @logger.error("prosody: cannot start another handler fiber (#{e.message}); going on with " \
                    "#{@workers.size} of max_concurrency #{@size}")
      @size = @workers.size
    end
  end
end
