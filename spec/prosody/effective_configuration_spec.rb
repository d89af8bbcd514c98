# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"

RSpec.describe Prosody::EffectiveConfiguration do
  include MockHelpers

  def configuration(**options)
    client = mock_client(**options)
    client.configuration
  ensure
    client&.close
  end

  it "is still the frozen Hash of effective values" do
    config = configuration(max_concurrency: 7)

    expect(config).to be_a(Hash).and be_frozen
    expect(config[:max_concurrency]).to eq(7)
    expect(config.to_h).to include(max_concurrency: 7, mode: :pipeline)
  end

  it "says deferral, hot keys and retries apply in pipeline mode, the failure topic does not" do
    config = configuration

    expect(config.applies?(:defer_base)).to be(true)
    expect(config.applies?(:monopolization_window)).to be(true)
    expect(config.applies?("max_retries")).to be(true)
    expect(config.applies?(:scheduler_failure_weight)).to be(true)
    # Mock clients keep telemetry off unless asked, so its topic does nothing either.
    expect(config.inactive_options).to eq(%i[failure_topic telemetry_topic])
  end

  it "says deferral's settings do nothing once defer_enabled is false" do
    config = configuration(defer_enabled: false)

    expect(config.applies?(:defer_enabled)).to be(true)
    expect(config.inactive_options).to include(:defer_base, :defer_failure_threshold)
    expect(config.inactive_options).not_to include(:monopolization_threshold)
  end

  it "says deferral and hot keys do nothing in low-latency mode" do
    config = configuration(mode: :low_latency, failure_topic: "failures")

    expect(config.applies?(:failure_topic)).to be(true)
    expect(config.applies?(:max_retries)).to be(true)
    expect(config.inactive_options).to include(:defer_enabled, :defer_base, :monopolization_enabled)
  end

  it "says retries do nothing in best-effort mode" do
    config = configuration(mode: :best_effort)

    expect(config.inactive_options).to include(:max_retries, :retry_base, :max_retry_delay)
    expect(config.applies?(:timeout)).to be(true)
    expect(config.inactive_options).to be_frozen
  end

  it "rejects a name that is not an option" do
    expect { configuration.applies?(:max_concurency) }
      .to raise_error(ArgumentError, /max_concurency/)
  end

  it "logs once, at subscribe, the options set that the mode ignores" do
    log = StringIO.new
    Prosody.logger = Logger.new(log)
    client = mock_client(mode: :low_latency, failure_topic: unique("failures"), defer_base: 5,
                         group_id: unique("inert"), subscribed_topics: unique("inert"))
    client.subscribe(MockHelpers::RecordingHandler.new)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    sleep 0.05 until log.string.include?("defer_base") ||
                     Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

    expect(log.string).to match(/do nothing in this mode/).and include("defer_base")
    expect(log.string.scan("do nothing in this mode").size).to eq(1)
  ensure
    client&.close
  end
end
