# frozen_string_literal: true

require "spec_helper"
require "prosody"
require "timeout"
require_relative "../support/mock_helpers"

# Handlers and log targets for the timeout examples.
module TimeoutSpec
  # Counts attempts per payload `n` and logs each attempt's start and return, in order, to
  # `log`. The first attempt of a message whose payload has `slow` runs the given block.
  class AttemptHandler
    attr_reader :log

    def initialize(&first_attempt)
      @first_attempt = first_attempt
      @attempts = Hash.new(0)
      @log = Queue.new
    end

    def on_message(context, message)
      n = message.payload["n"]
      attempt = (@attempts[n] += 1)
      @log << [:start, n, attempt]
      @first_attempt.call(context) if attempt == 1 && message.payload["slow"]
      @log << [:returned, n, attempt]
    end

    def on_timer(_context, _timer); end
  end

  # A Logger target that hands each line to a Queue, so an example can wait for a line.
  class QueueIO
    attr_reader :lines

    def initialize
      @lines = Queue.new
    end

    def write(line)
      @lines << line
      line.bytesize
    end

    def close; end
  end
end

# The `timeout` option (issue 5): a handler still running after `timeout` is cancelled, sees
# `should_cancel?` turn true or gets the stop exception. If it then fails (the stop exception
# included) the attempt is retried as a transient failure; if it returns, it has succeeded.
RSpec.describe Prosody::Client, "handler timeout" do
  include MockHelpers

  let(:topic) { unique("timeout-spec") }
  let(:group) { unique("timeout-group") }

  after { @client&.unsubscribe if @client&.consumer_state == :running }

  def subscribed(handler, **options)
    @client = mock_client(group_id: group, subscribed_topics: topic, timeout: 1,
                          retry_base: 0.01, max_retry_delay: 0.05, **options)
    @client.subscribe(handler)
    @client
  end

  it "turns should_cancel? true for a handler past its timeout; returning then is a success" do
    observed = Queue.new
    handler = TimeoutSpec::AttemptHandler.new do |context|
      observed << context.should_cancel?
      # Spins without yielding to the reactor, so only the flag (not the stop exception) can
      # end the loop.
      Thread.pass until context.should_cancel?
      observed << context.should_cancel?
    end
    client = subscribed(handler)
    client.send_message(topic, "k", { "n" => 0, "slow" => true })
    client.send_message(topic, "k", { "n" => 1 })

    expect(pop_all(observed, 2)).to eq([false, true])
    # The key's next message runs next: the one that returned after its timeout is not retried.
    expect(pop_all(handler.log, 4)).to eq([[:start, 0, 1], [:returned, 0, 1],
                                           [:start, 1, 1], [:returned, 1, 1]])
  end

  it "counts a handler that rescues the stop exception after its timeout and returns as done" do
    handler = TimeoutSpec::AttemptHandler.new do
      sleep 30
    rescue Prosody::Processor::STOP
      nil # cleaned up; returning means the work is done
    end
    client = subscribed(handler)
    client.send_message(topic, "k", { "n" => 0, "slow" => true })
    client.send_message(topic, "k", { "n" => 1 })

    expect(pop_all(handler.log, 4)).to eq([[:start, 0, 1], [:returned, 0, 1],
                                           [:start, 1, 1], [:returned, 1, 1]])
  end

  it "lets a bare sleep wait until the attempt is stopped, as it does outside a scheduler" do
    observed = Queue.new
    handler = TimeoutSpec::AttemptHandler.new do
      sleep
      observed << :woke
    rescue Prosody::Processor::STOP
      observed << :stopped
      nil
    rescue StandardError => e
      observed << e.class
    end
    subscribed(handler, timeout: 0.2).send_message(topic, "k", { "n" => 0, "slow" => true })

    expect(pop_all(observed, 1)).to eq([:stopped])
  end

  it "raises Timeout.timeout's error in the handler that asked for it, and goes on" do
    observed = Queue.new
    handler = TimeoutSpec::AttemptHandler.new do
      Timeout.timeout(0.05) { sleep 5 }
      observed << :slept
    rescue Timeout::Error => e
      observed << e.class
    end
    client = subscribed(handler)
    client.send_message(topic, "k", { "n" => 0, "slow" => true })
    client.send_message(topic, "k", { "n" => 1 })

    expect(pop_all(observed, 1)).to eq([Timeout::Error])
    expect(pop_all(handler.log, 4)).to eq([[:start, 0, 1], [:returned, 0, 1],
                                           [:start, 1, 1], [:returned, 1, 1]])
  end

  it "delivers the stop exception to a handler sleeping past its timeout" do
    observed = Queue.new
    handler = TimeoutSpec::AttemptHandler.new do |context|
      sleep 30
      observed << :slept
    rescue Prosody::Processor::STOP => e
      observed << [:stopped, e.class, context.should_cancel?]
      raise
    ensure
      observed << :ensure
    end
    subscribed(handler).send_message(topic, "k", { "n" => 0, "slow" => true })

    expect(pop_all(observed, 2)).to eq([[:stopped, Prosody::Processor::STOP, true], :ensure])
    expect(pop_all(handler.log, 3)).to eq([[:start, 0, 1], [:start, 0, 2], [:returned, 0, 2]])
  end

  it "retries the timed-out message once it fails, then handles the key's later messages" do
    log = TimeoutSpec::QueueIO.new
    Prosody.logger = Logger.new(log)
    stopped = Queue.new
    handler = TimeoutSpec::AttemptHandler.new do
      sleep 30
    rescue Prosody::Processor::STOP
      stopped << true
      raise
    end
    client = subscribed(handler)
    client.send_message(topic, "k", { "n" => 0, "slow" => true })
    client.send_message(topic, "k", { "n" => 1 })
    client.send_message(topic, "k", { "n" => 2 })

    expect(pop_all(stopped, 1)).to eq([true])
    expect(pop_all(handler.log, 7)).to eq([[:start, 0, 1],
                                           [:start, 0, 2], [:returned, 0, 2],
                                           [:start, 1, 1], [:returned, 1, 1],
                                           [:start, 2, 1], [:returned, 2, 1]])
    Timeout.timeout(20) { nil until log.lines.pop.include?("handler timed out") }
    client.unsubscribe
    expect(handler.log.size).to eq(0), "no attempt after the retry succeeded"
  end
end
