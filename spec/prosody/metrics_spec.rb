# frozen_string_literal: true

require "net/http"
require "open3"
require "socket"
require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"

RSpec.describe "/metrics" do
  include MockHelpers

  let(:topic) { unique("metrics-spec") }
  let(:group) { unique("metrics-group") }
  let(:port) do
    server = TCPServer.new("127.0.0.1", 0)
    server.addr[1]
  ensure
    server&.close
  end
  let(:client) do
    Prosody::Client.new(mock: true, group_id: group, subscribed_topics: topic,
                        probe_host: "127.0.0.1", probe_port: port, source_system: "metrics-spec",
                        retry_base: 0.01)
  end

  after { client.unsubscribe if client.consumer_state == :running }

  def scrape
    Net::HTTP.start("127.0.0.1", port, open_timeout: 5, read_timeout: 10) do |http|
      http.get("/metrics")
    end
  end

  def series(outcome)
    %(prosody_events_total{group="#{group}",topic="#{topic}",kind="message",outcome="#{outcome}"})
  end

  # Scrapes until the body has every line of `expected`, failing after 20 seconds.
  def scrape_until(*expected)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 20
    loop do
      body = scrape.body
      return body if expected.all? { |line| body.include?("#{line}\n") }
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        raise "never saw #{expected} in:\n#{body}"
      end

      sleep 0.05
    end
  end

  it "counts the Ruby handler's outcomes and the client's sends" do
    failed_once = false
    client.subscribe(MockHelpers::RecordingHandler.new do |_context, message|
      if message.payload["n"] == 2 && !failed_once
        failed_once = true
        raise "first attempt fails"
      end
    end)
    3.times { |n| client.send_message(topic, "key-#{n}", { "n" => n }) }

    body = scrape_until("#{series("handled")} 3", "#{series("failed")} 1", "#{series("retried")} 1")
    expect(body).to include(%(prosody_producer_sends_total{group="#{group}",topic="#{topic}"} 3\n))
    timed = %(prosody_handler_duration_seconds_count{group="#{group}",kind="message"})
    expect(body).to include("#{timed} 4\n")
    expect(scrape["Content-Type"]).to eq("text/plain; version=0.0.4; charset=utf-8")
  end

  it "passes the Prometheus text parser" do
    python = ENV.fetch("PROSODY_METRICS_PYTHON", "/var/cache/prosody/venv/bin/python")
    unless system(python, "-c", "import prometheus_client", err: File::NULL)
      skip "#{python} cannot import prometheus_client: run script/setup " \
           "(or set PROSODY_METRICS_PYTHON)"
    end
    client.subscribe(MockHelpers::RecordingHandler.new)
    client.send_message(topic, "key", { "n" => 1 })
    body = scrape_until("#{series("handled")} 1")

    checker = File.expand_path("../../script/check_metrics.py", __dir__)
    output, status = Open3.capture2e(python, checker, stdin_data: body)
    expect(status).to be_success, output
  end
end
