# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"

RSpec.describe Prosody::Client do
  include MockHelpers

  let(:topic) { unique("client-spec") }
  let(:group) { unique("client-group") }

  after { @client&.unsubscribe if @client&.consumer_state == :running }

  def without_env(name)
    saved = ENV.delete(name)
    yield
  ensure
    ENV[name] = saved if saved
  end

  def subscribed(handler, **options)
    @client = mock_client(group_id: group, subscribed_topics: topic, **options)
    @client.subscribe(handler)
    @client
  end

  it "is a producer-only client without a group or topics" do
    client = mock_client
    expect(client.consumer_state).to eq(:unconfigured)
    expect(client.source_system).to eq("spec-producer")
    expect { client.send_message(topic, "k", { "a" => 1 }) }.not_to raise_error
    expect { client.unsubscribe }.to raise_error(Prosody::NotSubscribedError)
  end

  it "moves between configured and running" do
    handler = MockHelpers::RecordingHandler.new
    client = mock_client(group_id: group, subscribed_topics: topic)
    expect(client.consumer_state).to eq(:configured)
    client.subscribe(handler)
    expect(client.consumer_state).to eq(:running)
    expect { client.subscribe(handler) }.to raise_error(Prosody::AlreadySubscribedError)
    client.unsubscribe
    expect(client.consumer_state).to eq(:configured)
  end

  it "refuses to consume from a real cluster without cassandra_nodes, naming the option" do
    # An explicit empty list, so PROSODY_CASSANDRA_NODES (set when CI runs this) does not apply.
    client = Prosody::Client.new(bootstrap_servers: "127.0.0.1:1", probe_port: false,
                                 group_id: group, subscribed_topics: topic, cassandra_nodes: [])
    expect { client.subscribe(MockHelpers::RecordingHandler.new) }
      .to raise_error(Prosody::Error, /cassandra_nodes.*PROSODY_CASSANDRA_NODES.*mock/)
    expect(client.consumer_state).to eq(:configured)
  end

  it "refuses to start without a broker outside mock mode, naming the option" do
    without_env("PROSODY_BOOTSTRAP_SERVERS") do
      expect { Prosody::Client.new(probe_port: false, group_id: group) }
        .to raise_error(ArgumentError,
                        /missing `bootstrap_servers`.*PROSODY_BOOTSTRAP_SERVERS.*mock: true/)
    end
  end

  it "defaults the source system to the group id" do
    expect(Prosody::Client.new(mock: true, probe_port: false,
                               group_id: group).source_system).to eq(group)
  end

  it "refuses text that is not UTF-8 with a TypeError naming where it is" do
    client = mock_client
    bad = "ok\xFF".dup.force_encoding(Encoding::UTF_8)
    expect { client.send_message(topic, bad, { "a" => 1 }) }
      .to raise_error(TypeError, /key is not valid UTF-8/)
    expect { client.send_message(bad, "k", { "a" => 1 }) }
      .to raise_error(TypeError, /topic is not valid UTF-8/)
    expect { client.send_message(topic, "k", { "a" => [bad] }) }
      .to raise_error(TypeError, /payload\["a"\]\[0\] is a String that is not valid UTF-8/)
    expect { client.send_message(topic, "k", { bad => 1 }) }
      .to raise_error(TypeError, /a key of payload is a String that is not valid UTF-8/)
    latin1 = "caf\xE9".dup.force_encoding(Encoding::ISO_8859_1)
    expect { client.send_message(topic, latin1, { "name" => latin1 }) }.not_to raise_error
  end

  it "round-trips every kind of JSON value with String keys" do
    handler = MockHelpers::RecordingHandler.new
    client = subscribed(handler)
    payloads = [
      { "text" => "héllo", "n" => 42, "big" => 2**62, "pi" => 3.25, "yes" => true, "no" => false,
        "nil" => nil },
      [1, "two", [3.5, { "four" => [nil] }]],
      "plain string",
      -7,
      1.5,
      true,
      nil,
      { nested: { symbol_key: :symbol_value } }
    ]
    payloads.each { |payload| client.send_message(topic, "same-key", payload) }
    received = pop_all(handler.events, payloads.size).map(&:payload)
    expected = payloads[0..-2] + [{ "nested" => { "symbol_key" => "symbol_value" } }]
    expect(received).to eq(expected)
  end

  it "exposes message metadata" do
    handler = MockHelpers::RecordingHandler.new
    client = subscribed(handler)
    before = Time.now - 1
    client.send_message(topic, "meta-key", { "x" => 1 })
    message = pop_all(handler.events, 1).first
    expect(message.topic).to eq(topic)
    expect(message.key).to eq("meta-key")
    expect(message.partition).to be_between(0, 3)
    expect(message.offset).to eq(0)
    expect(message.timestamp).to be_a(Time).and(be > before)
    expect(message.headers["source-system"]).to eq("spec-producer")
    expect(message.headers["traceparent"]).to match(/\A00-\h{32}-\h{16}-01\z/)
    expect(message.payload).to equal(message.payload)
  end

  it "keeps each key in order while keys run concurrently" do
    running = Queue.new
    peak = 0
    current = 0
    lock = Mutex.new
    handler = MockHelpers::RecordingHandler.new do |_context, message|
      lock.synchronize { peak = [peak, current += 1].max }
      sleep(0.001 * (message.payload["seq"] % 3))
      lock.synchronize { current -= 1 }
      running << 1
    end
    client = subscribed(handler)
    sent = Hash.new(0)
    60.times do |i|
      key = "key-#{i % 6}"
      client.send_message(topic, key, { "seq" => sent[key] })
      sent[key] += 1
    end
    messages = pop_all(handler.events, 60)
    by_key = messages.group_by(&:key).transform_values { |list| list.map { |m| m.payload["seq"] } }
    sent.each { |key, count| expect(by_key[key]).to eq((0...count).to_a) }
    expect(peak).to be > 1
  end

  it "rejects a payload that JSON cannot represent, naming its class" do
    client = mock_client
    expect { client.send_message(topic, "k", { "when" => Object.new }) }
      .to raise_error(TypeError, /payload\["when"\].*Object/)
    expect { client.send_message(topic, "k", [Float::NAN]) }.to raise_error(TypeError, /NaN/)
    expect { client.send_message(topic, 42, {}) }.to raise_error(TypeError, /key must be a String/)
  end

  it "checks the handler when subscribing" do
    client = mock_client(group_id: group, subscribed_topics: topic)
    expect { client.subscribe(Object.new) }.to raise_error(ArgumentError, /on_message/)
    only_message = Class.new { def on_message(context, message); end }.new
    expect { client.subscribe(only_message) }.to raise_error(ArgumentError, /on_timer/)
    wrong_arity = Class.new do
      def on_message(message); end
      def on_timer(context, timer); end
    end.new
    expect { client.subscribe(wrong_arity) }.to raise_error(ArgumentError, /two arguments/)
    wrong_excise = Class.new do
      def on_message(context, message); end
      def on_timer(context, timer); end
      def on_excise(message); end
    end.new
    expect { client.subscribe(wrong_excise) }
      .to raise_error(ArgumentError, /#on_excise must take two arguments/)
  end

  it "reports exceptions of any class as failures (best effort moves on)" do
    failures = [RuntimeError.new("boom"), NotImplementedError.new("later"),
                Class.new(Exception).new("odd")] # rubocop:disable Lint/InheritException
    handler = MockHelpers::RecordingHandler.new do |_context, message|
      index = message.payload["fail"]
      raise failures[index] if index
    end
    log = StringIO.new
    Prosody.logger = Logger.new(log)
    client = subscribed(handler, mode: :best_effort)
    failures.each_index { |index| client.send_message(topic, "k", { "fail" => index }) }
    client.send_message(topic, "k", { "fail" => nil })
    received = pop_all(handler.events, 1)
    expect(received.first.payload).to eq({ "fail" => nil })
    expect(log.string).to include("RuntimeError: boom", "NotImplementedError: later", "odd")
  end

  it "retries transient errors in pipeline mode and gives up permanent ones at once" do
    attempts = Hash.new(0)
    handler_class = Class.new(Prosody::EventHandler) do
      define_method(:initialize) do |events|
        super()
        @events = events
      end
      define_method(:on_message) do |_context, message|
        n = message.payload["n"]
        attempts[n] += 1
        raise ArgumentError, "unparseable" if n == 1
        raise IOError, "flaky" if n.zero? && attempts[n] < 3

        @events << message
      end
      define_method(:on_timer) { |_context, _timer| nil }
      permanent :on_message, ArgumentError
    end
    events = Queue.new
    client = subscribed(handler_class.new(events), retry_base: 0.005, max_retry_delay: 0.02)
    client.send_message(topic, "a", { "n" => 0 })
    client.send_message(topic, "b", { "n" => 1 })
    client.send_message(topic, "b", { "n" => 2 })
    payloads = pop_all(events, 2).map { |m| m.payload["n"] }
    expect(payloads).to contain_exactly(0, 2)
    expect(attempts[0]).to eq(3)
    expect(attempts[1]).to eq(1)
  end

  it "sends from inside a handler without blocking other handlers" do
    replies = unique("replies")
    reply_handler = MockHelpers::RecordingHandler.new
    replier = mock_client(group_id: unique("reply-group"), subscribed_topics: replies)
    replier.subscribe(reply_handler)
    client = nil
    handler = MockHelpers::RecordingHandler.new do |_context, message|
      client.send_message(replies, message.key, { "echo" => message.payload["n"] })
    end
    client = subscribed(handler)
    5.times { |n| client.send_message(topic, "k#{n}", { "n" => n }) }
    echoes = pop_all(reply_handler.events, 5).map { |m| m.payload["echo"] }
    expect(echoes.sort).to eq([0, 1, 2, 3, 4])
  ensure
    replier&.unsubscribe
  end

  it "cancels a handler that outlives the shutdown budget" do
    started = Queue.new
    observed = Queue.new
    handler = MockHelpers::RecordingHandler.new do |context, _message|
      context.on_cancel { observed << :callback }
      started << true
      begin
        sleep 30
      rescue Prosody::Processor::STOP
        observed << context.should_cancel?
        raise
      ensure
        observed << :ensure
      end
    end
    client = subscribed(handler, shutdown_timeout: 1)
    client.send_message(topic, "slow", { "n" => 1 })
    Timeout.timeout(20) { started.pop }
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    client.unsubscribe
    elapsed = Process.clock_gettime(Process::CLOCK_MONOTONIC) - elapsed
    expect(pop_all(observed, 3)).to eq([:callback, true, :ensure])
    expect(elapsed).to be < 10
  end

  it "forwards engine log lines to Prosody.logger" do
    log = StringIO.new
    Prosody.logger = Logger.new(log)
    client = mock_client(group_id: group, subscribed_topics: topic)
    client.subscribe(MockHelpers::RecordingHandler.new)
    Timeout.timeout(20) { sleep 0.05 until client.assigned_partitions.positive? }
    client.unsubscribe
    expect(log.string).to include("partitions assigned", "partitions revoked")
  ensure
    Prosody.logger = nil
  end

  it "can subscribe again after unsubscribing while a handler runs" do
    started = Queue.new
    release = Queue.new
    handler = MockHelpers::RecordingHandler.new do |_context, message|
      if message.payload["wait"]
        started << true
        release.pop
      end
    end
    client = subscribed(handler, shutdown_timeout: 5)
    client.send_message(topic, "k", { "wait" => true })
    Timeout.timeout(20) { started.pop }
    stopper = Thread.new { client.unsubscribe }
    sleep 0.2
    release << true
    stopper.join
    expect(client.consumer_state).to eq(:configured)
    client.subscribe(handler)
    client.send_message(topic, "k", { "after" => true })
    payloads = pop_all(handler.events, 2).map(&:payload)
    expect(payloads).to include({ "after" => true })
  end

  it "sends a 1 MB payload and refuses one over Kafka's limit, saying why" do
    handler = MockHelpers::RecordingHandler.new
    client = subscribed(handler)
    expect { client.send_message(topic, "big", { "text" => "x" * 1_100_000 }) }
      .to raise_error(Prosody::Error,
                      /`#{topic}`: the record is too large \(3 bytes of key and 1100011 bytes/)
    expect { client.send_message(topic, "k" * 2_000_000, { "n" => 1 }) }
      .to raise_error(Prosody::Error, /\(2000000 bytes of key and 7 bytes of payload;/)
    client.send_message(topic, "big", { "text" => "x" * 1_000_000 })
    expect(pop_all(handler.events, 1).first.payload["text"].size).to eq(1_000_000)
  end

  it "lets Timeout and Thread#raise interrupt a send that is waiting for Kafka" do
    client = Prosody::Client.new(bootstrap_servers: "127.0.0.1:1", probe_port: false,
                                 send_timeout: 30)
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    expect { Timeout.timeout(0.3) { client.send_message(topic, "k", { "a" => 1 }) } }
      .to raise_error(Timeout::Error)
    waiter = Thread.new { client.send_message(topic, "k", { "a" => 2 }) }
    waiter.report_on_exception = false
    sleep 0.2
    waiter.raise(ArgumentError, "stop waiting")
    expect { waiter.join }.to raise_error(ArgumentError, "stop waiting")
    expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).to be < 10
  end

  it "keeps each thread's sends in order while other threads compete for the GVL" do
    handler = MockHelpers::RecordingHandler.new
    client = subscribed(handler, send_timeout: 10)
    spinning = true
    # Busy threads make the VM post timer interrupts, which a send's wait must ride out
    # rather than return early (it once did, letting a thread's next send overtake it).
    spinner = Thread.new { nil while spinning }
    senders = Array.new(8) do |t|
      Thread.new { 20.times { |i| client.send_message(topic, "spin-#{t}", { "i" => i }) } }
    end
    senders.each(&:join)
    spinning = false
    spinner.join
    by_key = pop_all(handler.events, 160).group_by(&:key)
    by_key.each_value { |list| expect(list.map { |m| m.payload["i"] }).to eq((0...20).to_a) }
  end

  it "sends from many threads at once" do
    handler = MockHelpers::RecordingHandler.new
    client = subscribed(handler, send_timeout: 10)
    threads = Array.new(8) do |t|
      Thread.new { 25.times { |i| client.send_message(topic, "thread-#{t}", { "i" => i }) } }
    end
    threads.each(&:join)
    messages = pop_all(handler.events, 200)
    by_key = messages.group_by(&:key)
    expect(by_key.keys.size).to eq(8)
    by_key.each_value do |list|
      expect(list.map { |m| m.payload["i"] })
        .to eq((0...25).to_a), lambda {
                                 list.map do |m|
                                   "#{m.payload["i"]}@#{m.partition}/#{m.offset}"
                                 end.join(" ")
                               }
    end
  end

  it "lets another Ruby thread run at nearly full speed while it idles" do
    count_for = lambda do |seconds|
      count = 0
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
      count += 1 while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
      count
    end
    solo = count_for.call(0.5)
    subscribed(MockHelpers::RecordingHandler.new)
    shared = count_for.call(0.5)
    ratio = shared.to_f / solo
    puts format("\n    another thread ran at %.0f%% of its solo speed while the client idled",
                ratio * 100)
    expect(ratio).to be > 0.5
  end

  it "wakes a handler waiting in on_cancel instead of stopping it" do
    started = Queue.new
    observed = Queue.new
    handler = MockHelpers::RecordingHandler.new do |context, _message|
      started << true
      context.on_cancel
      observed << context.should_cancel?
    end
    client = subscribed(handler, shutdown_timeout: 1)
    client.send_message(topic, "waiting", { "n" => 1 })
    Timeout.timeout(20) { started.pop }
    client.unsubscribe
    expect(pop_all(observed, 1)).to eq([true])
    expect(pop_all(handler.events, 1).first.key).to eq("waiting")
  end

  it "closes: unsubscribes, then refuses further use" do
    client = mock_client(group_id: group, subscribed_topics: topic)
    client.subscribe(MockHelpers::RecordingHandler.new)
    expect(client.consumer_state).to eq(:running)
    client.close
    client.close
    expect(client.consumer_state).to eq(:closed)
    expect { client.send_message(topic, "k", {}) }.to raise_error(Prosody::ClosedError)
    expect do
      client.subscribe(MockHelpers::RecordingHandler.new)
    end.to raise_error(Prosody::ClosedError)
  end
end
