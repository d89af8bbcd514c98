# frozen_string_literal: true

require "spec_helper"
require "prosody"
require "async"
require "set"
require_relative "../support/mock_helpers"
require_relative "../support/real_kafka"

# Answers each message with a block's value; records the calls.
class RequestSpecResponder
  attr_reader :calls

  def initialize(&block)
    @block = block
    @calls = Queue.new
  end

  def on_message(context, message)
    @calls << message.key
    @block.call(context, message)
  end

  def on_timer(_context, _timer); end

  # The same, taking excise records.
  class Excising < RequestSpecResponder
    def on_excise(_context, message) = { "excised" => message.key }
  end
end

# Issue 18, part 1: requests across subsystems, on the mock broker and (tagged :integration) on
# the real Kafka that `script/services` runs.
RSpec.shared_examples "requests across subsystems" do
  include MockHelpers

  let(:topic) { unique("request-spec") }
  let(:requester) { client_for }

  after { @clients&.each(&:close) }

  def client_for(**options)
    client = build_client(retry_base: 0.005, max_retry_delay: 0.02, idempotence_cache_size: 0,
                          **options)
    (@clients ||= []) << client
    client
  end

  # A subscribed client answering for `subsystem` with `handler`.
  def responder(subsystem, handler, group: unique("request-group"))
    client = client_for(group_id: group, subscribed_topics: topic, subsystem:)
    client.subscribe(handler)
    client
  end

  def ask(subsystems, timeout: 60, key: "order-1", payload: { "type" => "status" }, via: requester)
    via.request(topic:, key:, payload:, subsystems:, timeout:)
  end

  def answering(value = nil, &block)
    RequestSpecResponder.new(&(block || ->(_context, _message) { value }))
  end

  it "gets Success, Failure(HandlerError) and Failure(Timeout) from three subsystems in time" do
    answers = unique("answers")
    raises = unique("raises")
    down = unique("down")
    responder(answers, answering do |_context, message|
                         { "key" => message.key, "seen" => message.payload }
                       end)
    responder(raises, answering { raise Prosody::PermanentError, "no such order" })
    expect(ask([answers, raises]).values).to all(be_a(Prosody::Success).or(be_a(Prosody::Failure)))

    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    outcomes = ask([answers, raises, down], timeout: 2, payload: { "n" => 1 })
    waited = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started

    expect(outcomes.keys).to contain_exactly(answers, raises, down)
    expect(outcomes[answers]).to eq(Prosody::Success({ "key" => "order-1",
                                                       "seen" => { "n" => 1 } }))
    failed = Prosody::Failure::HandlerError.new("Prosody::PermanentError: no such order")
    expect(outcomes[raises]).to eq(Prosody::Failure(failed))
    expect(outcomes[down].error).to be_a(Prosody::Failure::Timeout)
    expect(outcomes[down].error.message).to match(/timeout/)
    expect(waited).to be_between(2, 5)
  end

  it "answers once, from the attempt that succeeds, when the responder retries twice" do
    attempts = Queue.new
    subsystem = unique("retrying")
    responder(subsystem, answering do |context, _message|
      attempts << context.demand.retry
      raise Prosody::TransientError, "blip" if context.demand.retry < 2

      { "retry" => context.demand.retry }
    end)

    expect(ask([subsystem])).to eq(subsystem => Prosody::Success({ "retry" => 2 }))
    expect(pop_all(attempts, 3)).to eq([0, 1, 2])
  end

  it "answers a request sent while its responder restarts" do
    subsystem = unique("restarting")
    group = unique("restarting-group")
    first = responder(subsystem, answering("first"), group:)
    expect(ask([subsystem])).to eq(subsystem => Prosody::Success("first"))
    first.unsubscribe

    asking = Thread.new { ask([subsystem], key: "order-2") }
    expect(asking.join(0.5)).to be_nil
    responder(subsystem, answering("second"), group:)
    expect(asking.value).to eq(subsystem => Prosody::Success("second"))
  end

  it "answers request_excise from on_excise; a responder without it lets the request time out" do
    excising = unique("excising")
    plain = unique("plain")
    responder(excising, RequestSpecResponder::Excising.new { "message" })
    responder(plain, answering("message"))
    ask([excising, plain])

    outcomes = requester.request_excise(topic:, key: "order-9", subsystems: [excising, plain],
                                        timeout: 2)
    expect(outcomes[excising]).to eq(Prosody::Success({ "excised" => "order-9" }))
    expect(outcomes[plain].error).to be_a(Prosody::Failure::Timeout)
  end

  it "answers Failure(HandlerError) naming a return value JSON cannot hold" do
    subsystem = unique("unencodable")
    responder(subsystem, answering(Object.new))

    outcome = ask([subsystem])[subsystem]
    expect(outcome).to be_failure
    expect(outcome.error).to be_a(Prosody::Failure::HandlerError)
    expect(outcome.error.message).to match(/cannot be sent as a JSON answer.*Object/)
  end

  it "refuses at once a handler's request to its own subsystem for its own key" do
    subsystem = unique("self")
    other = unique("other")
    seen = Queue.new
    responder(other, answering("from other"))
    client = nil
    client = responder(subsystem, answering do |_context, message|
      next "asked" if message.payload["ask"] == false

      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      begin
        ask([subsystem, other], key: message.key, payload: { "ask" => false }, timeout: 30,
                                via: client)
      rescue ArgumentError => e
        seen << [e.message, Process.clock_gettime(Process::CLOCK_MONOTONIC) - started]
      end
      seen << ask([other], key: message.key, payload: { "ask" => false }, via: client)
      "done"
    end)

    requester.send_message(topic, "loop", { "ask" => true })
    message, waited = pop_all(seen, 1).first
    expect(message).to match(/would wait behind it until the timeout/)
    expect(waited).to be < 1
    expect(pop_all(seen, 1).first).to eq(other => Prosody::Success("from other"))
  end

  it "waits without holding the GVL, from a plain thread and from a fiber" do
    down = [unique("nobody")]
    counted = 0
    counter = Thread.new { loop { counted += 1 } }
    from_thread = Thread.new { ask(down, timeout: 1) }.value
    from_fiber = nil
    ticks = 0
    Async do |task|
      ticking = task.async do
        loop do
          ticks += 1
          sleep 0.01
        end
      end
      from_fiber = ask(down, timeout: 1)
      ticking.stop
    end
    counter.kill

    expect([from_thread, from_fiber].map { |outcomes| outcomes.values.first.error.class })
      .to eq([Prosody::Failure::Timeout] * 2)
    expect(counted).to be > 1000
    # A reactor blocked for the second would tick once; async's timers tick at least every 100 ms.
    expect(ticks).to be >= 5
  end

  it "stops reading answers when the client closes" do
    client = client_for
    before = reply_readers
    unanswered = ask(["nobody"], timeout: 0.2, via: client)["nobody"]
    expect(unanswered.error).to be_a(Prosody::Failure::Timeout)
    started = reply_readers - before
    expect(started.size).to eq(1)

    client.close
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    sleep 0.05 while reply_readers.intersect?(started) &&
                     Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
    expect(reply_readers & started).to be_empty
    expect { ask(["nobody"], via: client) }.to raise_error(Prosody::ClosedError)
  end

  it "ends a request that waits when its client closes, with an error" do
    client = client_for
    ask(["nobody"], timeout: 0.2, via: client) # starts the reader
    waiting = Thread.new do
      Thread.current.report_on_exception = false
      ask(["nobody"], timeout: 600, via: client)
    end
    sleep 0.01 until waiting.status == "sleep"
    client.close
    # Within the minute, or nothing is raised: join returns nil while the thread still waits.
    expect { waiting.join(60) }.to raise_error(Prosody::ClosedError, /closed while the request/)
  end

  # This process's threads that read a reply topic (by the name the engine gives them), by id.
  def reply_readers
    Dir.glob("/proc/self/task/*/comm").each_with_object(Set.new) do |path, ids|
      ids << File.basename(File.dirname(path)) if File.read(path).strip == "prosody-replies"
    rescue Errno::ENOENT
      next
    end
  end

  it "refuses bad arguments with errors that name them" do
    expect { ask("billing") }.to raise_error(TypeError, /subsystems must be an Array/)
    expect { ask([]) }.to raise_error(ArgumentError, /at least one subsystem/)
    expect { ask(%w[a a]) }.to raise_error(ArgumentError, /`a` more than once/)
    expect { ask(["bad\nname"]) }.to raise_error(ArgumentError, /not a valid subsystem name/)
    expect { ask([" "]) }.to raise_error(ArgumentError, /not a valid subsystem name/)
    expect { ask([1]) }.to raise_error(TypeError, /subsystem name must be a String/)
    expect { ask(["a"], timeout: 0) }.to raise_error(ArgumentError, /timeout must be above 0/)
    expect { ask(["a"], timeout: -1) }.to raise_error(ArgumentError, /timeout must be above 0/)
    expect { ask(["a"], timeout: 7200) }.to raise_error(ArgumentError, /at most 3600 seconds/)
    expect { ask(["a"], timeout: "1") }.to raise_error(TypeError, /timeout must be a number/)
    expect { ask(["a"], payload: Object.new) }.to raise_error(TypeError, /Object/)
  end
end

RSpec.describe "Requests across subsystems on the mock broker" do
  include MockHelpers

  def build_client(**options)
    mock_client(**options)
  end

  it_behaves_like "requests across subsystems"
end

RSpec.describe "Requests across subsystems on real Kafka", :integration do
  include MockHelpers

  include_context "on real Kafka"

  it_behaves_like "requests across subsystems"
end
