# frozen_string_literal: true

module Prosody
  # Runs one client per handler class until a signal stops the process; what the `prosody`
  # command does once it has booted. Signal handlers only queue the signal: the work happens on
  # the thread that called {#run}.
  class Runner
    # What each signal does.
    SIGNALS = {
      "TERM" => "stop: unsubscribe every client (in-flight work finishes within " \
                "shutdown_timeout, completed offsets commit), then exit 0",
      "INT" => "the same as TERM; a second INT exits at once with status 130",
      "TSTP" => "quiet: stop taking new messages (partitions pause, the group is kept); " \
                "in-flight work finishes",
      "CONT" => "resume after TSTP",
      "TTIN" => "log the backtrace of every thread and every live fiber"
    }.freeze

    # @param handlers [Array<(Class, Hash)>] handler classes with their client options
    # @param logger [Logger]
    def initialize(handlers, logger:)
      @handlers = handlers
      @logger = logger
      @clients = []
    end

    # Subscribes every handler, then serves signals until the clients have stopped.
    # @return [Integer] the exit code
    def run
      reader, @writer = IO.pipe
      previous = trap_signals
      start
      serve(reader)
    ensure
      previous&.each { |signal, handler| Signal.trap(signal, handler) }
      @clients.each(&:close)
    end

    private

    def start
      @handlers.each do |handler_class, options|
        client = Client.new(**options)
        @clients << client
        client.subscribe(ReloadingHandler.for(handler_class))
        topics = Array(client.configuration[:subscribed_topics]).join(", ")
        @logger.info("#{handler_class} consuming #{topics}")
      end
    end

    def trap_signals
      SIGNALS.keys.to_h do |signal|
        [signal, Signal.trap(signal) { @writer.write_nonblock("#{signal}\n", exception: false) }]
      end
    end

    # Signal handlers may still write to the pipe while the process exits, so it is never
    # closed here; it goes with the process.
    def serve(reader)
      loop do
        return 0 if @stopper && !@stopper.alive?
        next unless reader.wait_readable(0.2)

        handle(reader.gets(chomp: true))
      end
    end

    def handle(signal)
      if %w[TERM INT].include?(signal)
        exit_now if @stopper && signal == "INT"
        @stopper ||= stop_in_background
      elsif !@stopper || signal == "TTIN"
        act_on(signal) # pausing or resuming a consumer that is stopping means nothing
      end
    end

    def act_on(signal)
      case signal
      when "TSTP" then each_client("quiet", &:pause)
      when "CONT" then each_client("resumed", &:resume)
      when "TTIN" then dump_backtraces
      end
    end

    def stop_in_background
      @logger.info("stopping: finishing in-flight work (INT again to exit at once)")
      Thread.new do
        @clients.each { |client| client.unsubscribe if client.consumer_state == :running }
      rescue StandardError => e
        @logger.error("stopping failed: #{e.class}: #{e.message}")
      end
    end

    # A second INT means the operator will not wait: no unsubscribe, no at_exit hooks.
    def exit_now
      @logger.warn("second INT: exiting without finishing in-flight work")
      Process.exit!(130)
    end

    def each_client(done, &)
      @clients.each(&)
      @logger.info(done)
    rescue StandardError => e
      @logger.error("#{done}: failed: #{e.class}: #{e.message}")
    end

    # Handler fibers included: a handler stuck in IO shows where.
    def dump_backtraces
      Thread.list.each do |thread|
        log_trace("thread #{thread.name || thread.object_id}", thread.backtrace)
      end
      ObjectSpace.each_object(Fiber).select(&:alive?).each do |fiber|
        log_trace("fiber #{fiber.object_id}", fiber.backtrace)
      end
    end

    def log_trace(label, trace)
      @logger.warn("#{label}:\n  #{trace.join("\n  ")}") unless trace.nil? || trace.empty?
    end
  end
end
