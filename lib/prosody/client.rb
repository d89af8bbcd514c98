# frozen_string_literal: true

module Prosody
  # A Kafka producer and (with `group_id` and `subscribed_topics`) a consumer.
  #
  # A client belongs to the process that built it. In a child forked after that, every method
  # but {#close} raises {Prosody::ForkError}: build a new client in the child (for example in
  # Puma's `on_worker_boot`), and {#close} there returns without touching the parent's client.
  #
  # @example Produce and consume on the embedded mock broker
  #   client = Prosody::Client.new(mock: true, group_id: "billing", subscribed_topics: "invoices")
  #   client.subscribe(InvoiceHandler.new)
  #   client.send_message("invoices", "customer-1", { "amount" => 42 })
  #   client.unsubscribe
  class Client
    include Published::Reading
    include Requests

    # @param config [Configuration, Hash, nil] a configuration, or options as a Hash
    # @param state_collections [Array<StateDefinition>] the keyed-state collections its
    #   handlers use through {Context#state}; names must be unique
    # @param subsystem [String, nil] the name its consumer keeps keyed state under (instead of
    #   its group), through which other clients read the `published: true` collections, and
    #   under which it answers requests ({Requests#request}): its handler's return value is the
    #   answer
    # @param options [Hash] options (see {Configuration}); they override `config`
    # @raise [ArgumentError] for an unknown option or an invalid value, or a repeated
    #   collection name
    # @raise [TypeError] for an option of the wrong type
    def initialize(config = nil, state_collections: [], subsystem: nil, **options)
      settings = build_configuration(config, options)
      collections = StateDefinition.check_all(state_collections)
      subsystem &&= Text.check(subsystem, "subsystem")
      LogPump.ensure_running
      @native = Native::Client.new(settings.to_native)
      @native.register_state(collections.map(&:native), subsystem)
      @configuration = effective_values
      # The consumer's details for error reports; workers answer requests for the subsystem.
      @tags = @configuration.slice(:group_id, :mode).merge(subsystem:)
      @pid = Process.pid
      @lock = Mutex.new
      @processor = nil
    end

    # Every option as this client uses it: set when it was built, else from its `PROSODY_*`
    # variable, else the default. The Cassandra password reads "<redacted>". It also says
    # which options do nothing in the client's mode ({EffectiveConfiguration#applies?}).
    #
    # @example
    #   Prosody::Client.new(mock: true).configuration[:max_concurrency] # => 32
    #   client = Prosody::Client.new(mock: true, mode: :best_effort)
    #   client.configuration.applies?(:max_retries) # => false
    # @return [EffectiveConfiguration] a frozen Hash; values in the Ruby form {Configuration}
    #   readers use
    # @raise [Prosody::ForkError] in a process forked after the client was built
    def configuration
      check_process
      @configuration
    end

    # Sends `payload` as JSON to `topic` under `key` and waits for Kafka to acknowledge it.
    # Inside a fiber under a scheduler (such as a handler) only the calling fiber waits.
    #
    # @param topic [String]
    # @param key [String]
    # @param payload [Hash, Array, String, Numeric, true, false, nil] any JSON-compatible value
    # @return [nil]
    # @raise [TypeError] if the payload cannot be represented as JSON
    # @raise [Prosody::TransientError] if Kafka did not acknowledge within `send_timeout`
    def send_message(topic, key, payload)
      check_process
      ensure_open
      topic = Text.check(topic, "topic")
      key = Text.check(key, "key")
      if Instrumentation.listening?(Instrumentation::SEND_MESSAGE)
        details = { topic:, key:, payload: }
        Instrumentation.instrument(Instrumentation::SEND_MESSAGE, details) do
          deliver(topic, key, payload)
        end
      else
        deliver(topic, key, payload)
      end
      nil
    end

    # Sends an excise record for `key` to `topic`: the key with no payload, a tombstone that a
    # compacted topic keeps in place of the key's earlier records. Consumers whose handler
    # defines `on_excise(context, message)` receive it there, in the key's order; others skip
    # it and commit its offset. Excise leaves the key's keyed state alone: `on_excise` clears
    # what it should, in the same transaction as the excise.
    #
    # @example
    #   client.excise("customers", "customer-1")
    # @param topic [String]
    # @param key [String]
    # @return [nil]
    # @raise [Prosody::TransientError] if Kafka did not acknowledge within `send_timeout`
    def excise(topic, key)
      check_process
      ensure_open
      topic = Text.check(topic, "topic")
      key = Text.check(key, "key")
      within = OtelBridge.current_traceparent || TraceScope.current
      @native.excise(topic, key, within, OtelBridge.current_baggage).value
      nil
    end

    # Starts consuming `subscribed_topics` with `handler` on a processor thread. Keyed records
    # without a payload (excise records, see {#excise}) reach `handler.on_excise(context,
    # message)` when it defines one, and are skipped otherwise.
    #
    # @param handler [#on_message, #on_timer] usually a {Prosody::EventHandler}
    # @return [nil]
    # @raise [ArgumentError] if the handler lacks `on_message` or `on_timer` taking two arguments,
    #   or defines an `on_excise` that does not
    # @raise [Prosody::AlreadySubscribedError] if already subscribed
    # @raise [Prosody::Error] if the probe server cannot listen on `probe_host:probe_port` (the
    #   message names the port), among other reasons the consumer cannot start
    def subscribe(handler)
      check_process
      excise = HandlerContract.check(handler)
      ensure_open
      @lock.synchronize do
        raise AlreadySubscribedError, "already subscribed; call unsubscribe first" if @processor

        bridge = Native::Bridge.new(@native.max_concurrency, excise)
        processor = Processor.new(handler, bridge, concurrency: @native.max_concurrency,
                                                   logger: Prosody.logger,
                                                   tags: @tags)
        @native.subscribe(bridge)
        @processor = processor.start
      end
      nil
    end

    # Stops consuming: in-flight handlers finish (or are cancelled near the end of
    # `shutdown_timeout`), completed offsets are committed, and the consumer leaves its group.
    #
    # @return [nil]
    # @raise [Prosody::NotSubscribedError] if not subscribed
    def unsubscribe
      check_process
      @lock.synchronize do
        raise NotSubscribedError, "not subscribed" unless @processor

        stop_consuming
      end
      nil
    end

    # Stops taking new messages while staying in the consumer group: every assigned partition
    # pauses, handlers already running finish and their offsets commit. What the `prosody`
    # command does on TSTP. {#resume} undoes it.
    #
    # @return [nil]
    # @raise [Prosody::NotSubscribedError] if not subscribed
    def pause
      check_process
      raise NotSubscribedError, "not subscribed" unless @native.set_paused(true)

      nil
    end

    # Takes messages again after {#pause}.
    #
    # @return [nil]
    # @raise [Prosody::NotSubscribedError] if not subscribed
    def resume
      check_process
      raise NotSubscribedError, "not subscribed" unless @native.set_paused(false)

      nil
    end

    # @return [Boolean] whether {#pause} is in effect
    def paused?
      check_process
      @native.paused?
    end

    # Unsubscribes if subscribed, stops reading answers to requests, and releases the client;
    # later calls raise {Prosody::ClosedError}. Closing twice is fine.
    #
    # @example
    #   at_exit { client.close }
    # @return [nil]
    def close
      # An inherited copy releases nothing: the connections belong to the parent. Returning
      # quietly lets `at_exit { client.close }` run in forked workers.
      return nil if forked?

      @lock.synchronize do
        return nil if @closed

        stop_consuming if @processor
        # Closed first, so a request that close ends sees why.
        @closed = true
        @native.close_requests
      end
      nil
    end

    # Stops the client for good: unsubscribes if subscribed (as {#unsubscribe} does) and
    # closes it (as {#close} does). Safe to call more than once and from several threads at
    # once: every call returns once the client is shut down, and later calls return at once.
    #
    # @example
    #   at_exit { client.shutdown }
    # @return [nil]
    alias shutdown close

    # @return [Symbol] `:unconfigured` (no group or topics), `:configured`, `:running`, or
    #   `:closed` once {#close} or {#shutdown} has run
    def consumer_state = @closed ? :closed : local_native.state.to_sym

    # @return [String, nil] the `source-system` header this client stamps on messages
    def source_system = local_native.source_system

    # @return [Integer] partitions currently assigned to this consumer
    def assigned_partitions = local_native.assigned_partitions

    # Why the subscribed consumer reaches no Kafka broker: how long none has answered, the
    # `bootstrap_servers` it tries and librdkafka's reason. `/readyz` says the same, and an ERROR
    # line is logged once an outage passes 15 seconds. The consumer keeps retrying meanwhile.
    #
    # @example
    #   client.broker_error
    #   # => "no kafka broker reachable for 20s at 127.0.0.1:1 (Message consumption error: ...)"
    # @return [String, nil] nil while a broker answers, and when not subscribed
    def broker_error = local_native.broker_error

    # @return [Boolean] whether some partition (or the poll loop, or a partition's timer tasks)
    #   has made no progress for `stall_threshold` while it had work; `/livez` reads the same check
    def is_stalled? # rubocop:disable Naming/PredicateName -- the public API name
      check_process
      @native.stalled?
    end

    # A test hook of mock mode: fires every timer `key` has in this consumer's partitions now,
    # through the real pipeline (`on_timer` sees the timer's own time), instead of waiting until
    # it is due. `prosody/rspec`'s {Prosody::RSpec::TestConsumer#fire_timers} waits for them too.
    #
    # @example
    #   client.mock_fire_timers("order-1") # => 1
    # @param key [String]
    # @return [Integer] how many timers it queued (0 if the key has none in owned partitions)
    # @raise [Prosody::NotSubscribedError] if not subscribed
    # @raise [Prosody::TransientError] outside mock mode
    def mock_fire_timers(key)
      check_process
      @native.fire_timers(Text.check(key, "key")).value
    end

    # A test hook: whether `key` is deferred in this consumer's partitions (pipeline mode):
    # its failure was parked, to be retried after `defer_base`, and its later messages wait
    # behind it. False when not subscribed.
    #
    # @param key [String]
    # @return [Boolean]
    def mock_deferred?(key)
      check_process
      @native.deferred?(Text.check(key, "key"))
    end

    private

    def build_configuration(config, options)
      given = case config
              when Configuration then config.to_hash.merge(options)
              when Hash then config.merge(options)
              when nil then options
              else raise TypeError,
                         "expected a Prosody::Configuration or a Hash, got #{config.class}"
              end
      defaults = Prosody.defaults_below_environment
      Configuration.new(defaults.empty? ? given : defaults.merge(Configuration.new(given).to_hash))
    end

    # Drains the consumer (waiting without the GVL, or in this fiber only, so the processor
    # thread keeps finishing handlers), then stops the processor thread. Callers hold @lock.
    def stop_consuming
      @native.unsubscribe&.value
      @processor.stop
      @processor = nil
      LogPump.flush
    end

    def forked? = Process.pid != @pid

    # The native client, once {#check_process} passed.
    def local_native
      check_process
      @native
    end

    def check_process
      return unless forked?

      raise ForkError, "this Prosody::Client was built in process #{@pid} and cannot be used " \
                       "after fork (in process #{Process.pid}); build a new client in the child"
    end

    # Plain JSON values go straight to the engine; what it refuses gets a second chance
    # through {AsJson}.
    # `within` is the trace the send continues: Ruby's current OpenTelemetry span when the
    # application uses one, else the message being handled, if any. `baggage` is Ruby's current
    # OpenTelemetry baggage; without it the handled message's baggage goes on.
    def deliver(topic, key, payload, within = OtelBridge.current_traceparent || TraceScope.current,
                baggage = OtelBridge.current_baggage)
      @native.send_message(topic, key, payload, within, baggage).value
    rescue TypeError => e
      @native.send_message(topic, key, AsJson.convert(payload, e), within, baggage).value
    end

    def effective_values
      values = @native.effective
      values[:probe_port] = false if values[:probe_port].nil?
      EffectiveConfiguration.new(values, @native.inapplicable)
    end

    def ensure_open
      raise ClosedError, "this client is closed" if @closed
    end
  end
end
