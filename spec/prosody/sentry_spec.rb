# frozen_string_literal: true

require "spec_helper"
require "json"
require "open3"
require "rbconfig"
require "socket"
require "zlib"
require "sentry-ruby"
require "prosody/sentry"
require_relative "../support/mock_helpers"

# Sentry's ingestion endpoint, played on 127.0.0.1: it receives the envelopes sentry-ruby really
# sends and queues each error event, parsed, before answering, so an event sent synchronously is
# queued by the time `Sentry.capture_exception` returns.
class SentryInbox
  def initialize
    @server = TCPServer.new("127.0.0.1", 0)
    @events = Queue.new
    @thread = Thread.new { serve }
  end

  def dsn
    "http://public@127.0.0.1:#{@server.addr[1]}/1"
  end

  def next_event(seconds: 20)
    Timeout.timeout(seconds) { @events.pop }
  end

  def close
    @server.close
    @thread.join(5)
  end

  private

  def serve
    while (socket = accept)
      begin
        Timeout.timeout(10) { receive(socket) }
      rescue Timeout::Error, SystemCallError, IOError
        nil # a client that stalls or hangs up has sent nothing worth recording
      ensure
        socket.close
      end
    end
  end

  def accept
    @server.accept
  rescue IOError, SystemCallError
    nil # closed by #close
  end

  def receive(socket)
    socket.gets # the request line
    headers = read_headers(socket)
    body = socket.read(headers.fetch("content-length", "0").to_i)
    body = Zlib.gunzip(body) if headers["content-encoding"] == "gzip"
    record(body)
    socket.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n" \
                 "Connection: close\r\n\r\n{}")
  end

  def read_headers(socket)
    headers = {}
    while (line = socket.gets) && line != "\r\n"
      name, value = line.split(":", 2)
      headers[name.strip.downcase] = value.to_s.strip
    end
    headers
  end

  # An envelope is a header line, then a header line and a payload line per item.
  def record(body)
    _envelope, *items = body.split("\n")
    items.each_slice(2) do |header, payload|
      @events << JSON.parse(payload) if JSON.parse(header)["type"] == "event"
    end
  end
end

RSpec.describe Prosody::SentryIntegration do
  include MockHelpers

  let(:topic) { unique("sentry-spec") }
  let(:group) { unique("sentry-group") }
  let(:inbox) { SentryInbox.new }
  let(:lib) { File.expand_path("../../lib", __dir__) }

  around do |example|
    dsn = ENV.delete("SENTRY_DSN")
    example.run
  ensure
    dsn ? ENV.store("SENTRY_DSN", dsn) : ENV.delete("SENTRY_DSN")
  end

  before { close_sentry }

  after do
    @client&.unsubscribe if @client&.consumer_state == :running
    close_sentry
    inbox.close
  end

  # Sends each event before capture_exception returns, so events arrive in capture order.
  def init_sentry
    Sentry.init do |config|
      config.dsn = inbox.dsn
      config.background_worker_threads = 0
      config.logger = Logger.new(File::NULL)
    end
  end

  def close_sentry
    return unless Sentry.initialized?
    return Sentry.close if Sentry.respond_to?(:close)

    # sentry-ruby 5.3 has no Sentry.close; later releases' close also ends by dropping the hub.
    Sentry.background_worker&.shutdown
    Sentry.instance_variable_set(:@main_hub, nil)
    Thread.current.thread_variable_set(Sentry::THREAD_LOCAL, nil)
  end

  def subscribed(handler, **options)
    @client = mock_client(group_id: group, subscribed_topics: topic, **options)
    @client.subscribe(handler)
    @client
  end

  def exception_of(event)
    event.dig("exception", "values").last.slice("type", "value")
  end

  def prosody_tags(event)
    event["tags"].select { |name, _| name.start_with?("prosody.") }
  end

  # Nothing captured before it can arrive after it: a marker sent once the processor is done.
  def expect_nothing_else
    described_class.capture_exception(RuntimeError.new("marker"), {})
    expect(exception_of(inbox.next_event)).to eq("type" => "RuntimeError", "value" => "marker")
  end

  it "reports each failed attempt once, with the event's tags, and a permanent failure once" do
    init_sentry
    handler = MockHelpers::RecordingHandler.new do |context, message|
      raise Prosody::PermanentError, "unusable order" if message.payload["type"] == "order.broken"
      raise IOError, "flaky attempt #{context.attempt}" if context.attempt < 3
    end
    client = subscribed(handler, retry_base: 0.005, max_retry_delay: 0.02)
    client.send_message(topic, "order-7", { "type" => "order.created", "total" => 42 })
    client.send_message(topic, "order-7", { "type" => "order.broken" })

    events = Array.new(3) { inbox.next_event }
    partition = pop_all(handler.events, 1).first.partition.to_s
    common = { "prosody.topic" => topic, "prosody.partition" => partition,
               "prosody.key" => "order-7", "prosody.group_id" => group,
               "prosody.mode" => "pipeline" }
    expect(events.map { |event| exception_of(event) }).to eq(
      [{ "type" => "IOError", "value" => "flaky attempt 1" },
       { "type" => "IOError", "value" => "flaky attempt 2" },
       { "type" => "Prosody::PermanentError", "value" => "unusable order" }]
    )
    expect(events.map { |event| prosody_tags(event) }).to eq(
      [common.merge("prosody.offset" => "0", "prosody.event_type" => "order.created",
                    "prosody.attempt" => "1", "prosody.failure" => "transient"),
       common.merge("prosody.offset" => "0", "prosody.event_type" => "order.created",
                    "prosody.attempt" => "2", "prosody.failure" => "transient"),
       common.merge("prosody.offset" => "1", "prosody.event_type" => "order.broken",
                    "prosody.attempt" => "1", "prosody.failure" => "permanent")]
    )
    expect(events.first.dig("contexts", "prosody"))
      .to include("topic" => topic, "offset" => 0, "attempt" => 1, "mode" => "pipeline")
    client.unsubscribe
    expect_nothing_else
  end

  it "reports a timer's failure with its key and time, without message tags" do
    init_sentry
    due = Time.at(Time.now.to_i + 2)
    handler = Class.new do
      define_method(:on_message) { |context, _message| context.schedule(due) }
      define_method(:on_timer) { |_context, _timer| raise ArgumentError, "timer failed" }
    end.new
    client = subscribed(handler, mode: :best_effort)
    client.send_message(topic, "customer-3", { "type" => "signup" })

    event = inbox.next_event
    expect(exception_of(event)).to eq("type" => "ArgumentError", "value" => "timer failed")
    expect(prosody_tags(event)).to eq(
      "prosody.key" => "customer-3", "prosody.timer_time" => due.getutc.strftime("%FT%TZ"),
      "prosody.group_id" => group, "prosody.mode" => "best_effort", "prosody.attempt" => "1",
      "prosody.failure" => "transient"
    )
  end

  it "does not report Async::Stop, nor an error raised once the handler was cancelled" do
    init_sentry
    started = Queue.new
    handler = MockHelpers::RecordingHandler.new do |context, message|
      case message.key
      when "sleeper"
        started << :sleeper
        sleep(30)
      when "waiter"
        started << :waiter
        context.on_cancel
        raise IOError, "connection closed by cancellation"
      else raise ArgumentError, "plain failure"
      end
    end
    client = subscribed(handler, mode: :best_effort, shutdown_timeout: 1)
    %w[sleeper waiter plain].each { |key| client.send_message(topic, key, { "n" => 1 }) }
    expect(pop_all(started, 2)).to contain_exactly(:sleeper, :waiter)
    expect(exception_of(inbox.next_event)).to eq("type" => "ArgumentError",
                                                 "value" => "plain failure")

    client.unsubscribe
    expect_nothing_else
  end

  it "initialises Sentry from SENTRY_DSN when it is loaded but not initialised" do
    ENV["SENTRY_DSN"] = inbox.dsn
    # Keeps Sentry's default logger off the spec output; it does not change what is sent.
    allow(Sentry::Logger).to(receive(:new).and_wrap_original { |new, *| new.call(File::NULL) })
    expect(Sentry.initialized?).to be(false)

    expect(described_class.enabled?).to be(true)
    expect(Sentry.initialized?).to be(true)
    error = RuntimeError.new("reported directly")
    expect(described_class.capture_exception(error, { topic: "orders", attempt: 2, gone: nil }))
      .to be(true)

    event = inbox.next_event
    expect(exception_of(event)).to eq("type" => "RuntimeError", "value" => "reported directly")
    expect(prosody_tags(event)).to eq("prosody.topic" => "orders", "prosody.attempt" => "2")
    expect(event.dig("contexts", "prosody")).to eq("topic" => "orders", "attempt" => 2,
                                                   "gone" => nil)
  end

  it "stays off without SENTRY_DSN while Sentry is not initialised" do
    expect(described_class.enabled?).to be(false)
    expect(described_class.capture_exception(RuntimeError.new("x"), {})).to be(false)
    expect(Sentry.initialized?).to be(false)
  end

  it "never loads sentry-ruby itself" do
    requires = Dir["#{lib}/**/*.rb"].flat_map do |file|
      File.readlines(file).grep(/^\s*(require|load)\b.*["']sentry(-ruby)?["']/)
          .map { |line| "#{file}: #{line}" }
    end
    expect(requires).to be_empty
  end

  # A child process, so sentry-ruby is really absent rather than hidden.
  it "logs one error and keeps handling when SENTRY_DSN is set but sentry-ruby is not loaded" do
    script = <<~RUBY
      require "prosody/sentry"
      require "json"
      require "stringio"
      require "timeout"
      log = StringIO.new
      Prosody.logger = Logger.new(log)
      handled = Queue.new
      handler = Class.new do
        define_method(:on_message) do |_context, message|
          raise IOError, "lost" if message.payload["fail"]
          handled << message.payload
        end
        define_method(:on_timer) { |_context, _timer| nil }
      end.new
      client = Prosody::Client.new(mock: true, probe_port: false, mode: :best_effort,
                                   source_system: "spec-producer", group_id: #{group.dump},
                                   subscribed_topics: #{topic.dump})
      client.subscribe(handler)
      [true, true, false].each { |fail| client.send_message(#{topic.dump}, "k", { "fail" => fail }) }
      Timeout.timeout(20) { handled.pop }
      client.unsubscribe
      puts JSON.generate(sentry: defined?(::Sentry), handled: true,
                         errors: log.string.lines.grep(/ERROR.*sentry-ruby/))
    RUBY
    result = run_ruby(script, "SENTRY_DSN" => "http://public@127.0.0.1:9/1")

    expect(result["sentry"]).to be_nil
    expect(result["handled"]).to be(true)
    expect(result["errors"].size).to eq(1)
    expect(result["errors"].first).to include("SENTRY_DSN is set but sentry-ruby is not loaded")
  end

  def run_ruby(script, env)
    Open3.popen2e(env, RbConfig.ruby, "-I", lib, "-e", script) do |stdin, output, child|
      stdin.close
      reader = Thread.new { output.read }
      JSON.parse(finish(child, reader, 60).lines.last)
    end
  end

  # The child's output, once it has exited successfully within `seconds`.
  def finish(child, reader, seconds)
    unless child.join(seconds)
      Process.kill(:KILL, child.pid)
      raise "the child process did not finish within #{seconds} seconds"
    end
    expect(child.value).to be_success, -> { reader.value }
    reader.value
  end
end
