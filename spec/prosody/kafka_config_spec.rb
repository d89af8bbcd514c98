# frozen_string_literal: true

require "socket"
require "spec_helper"
require "prosody"
require_relative "../support/prosody_env"
require_relative "../support/ruby_child"

# `kafka_config`: librdkafka properties for every Kafka client (issue #14).
RSpec.describe "kafka_config" do
  include_context "without PROSODY_* variables"

  include RubyChild

  it "refuses a property Prosody owns on assignment, naming the option to use" do
    config = Prosody::Configuration.new

    expect { config.kafka_config = { "group.id" => "other" } }
      .to raise_error(ArgumentError, "invalid `kafka_config` property `group.id`: " \
                                     "Prosody sets it from the `group_id` option")
    expect { config.kafka_config = { "enable.auto.commit" => true } }
      .to raise_error(ArgumentError, /property `enable.auto.commit`: Prosody stores and commits/)
  end

  it "fails the client's build naming an unknown property and librdkafka's reason" do
    expect { Prosody::Client.new(mock: true, kafka_config: { "no.such.property" => "1" }) }
      .to raise_error(ArgumentError, "invalid `kafka_config` property `no.such.property`: " \
                                     'No such configuration property: "no.such.property"')
    expect { Prosody::Client.new(mock: true, kafka_config: { "socket.timeout.ms" => "soon" }) }
      .to raise_error(ArgumentError, /property `socket.timeout.ms`: .*"socket.timeout.ms"/)
  end

  it "takes one PROSODY_KAFKA_CONFIG_<NAME> variable per property" do
    ENV["PROSODY_KAFKA_CONFIG_CLIENT_ID"] = "from-env"
    ENV["PROSODY_KAFKA_CONFIG_SOCKET_KEEPALIVE_ENABLE"] = "true"

    expect(Prosody::Configuration.new.effective[:kafka_config])
      .to eq("client.id" => "from-env", "socket.keepalive.enable" => "true")
    expect(Prosody::Configuration.new(kafka_config: { "linger.ms" => 5 }).effective[:kafka_config])
      .to eq("linger.ms" => "5")
  end

  # Every client writes its client.id in librdkafka's start-up line, which the client's producer
  # and group consumer serve promptly. (The admin client never serves the queue rust-rdkafka
  # sends log lines to, and the deferred-record loader only now and then; the engine's unit
  # tests check every builder, `kafka::client_config::tests`.)
  it "reaches the producer, the consumer and the admin client" do
    output = run_ruby(<<~RUBY, "PROSODY_KAFKA_DEBUG" => "generic")
      require "prosody"
      Prosody.logger = Logger.new($stdout)
      tuned = { kafka_config: { "client.id" => "kc-spec" } }
      client = Prosody::Client.new(mock: true, probe_port: false, group_id: "kc", subscribed_topics: "kc", **tuned)
      client.subscribe(Class.new { def on_message(*) = nil; def on_timer(*) = nil }.new)
      # Once it owns partitions its poll loop has served the start-up line.
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 30
      sleep 0.05 until client.assigned_partitions.positive? ||
                       Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
      client.close
      Prosody::LogPump.flush
    RUBY
    started = output.scan(/librdkafka INIT: .* (\S+)#(producer|consumer)-\d+ initialized/)

    expect(started.map(&:first).uniq).to eq(["kc-spec"]), output
    expect(started.map(&:last)).to include("producer", "consumer"), output
    expect { Prosody::Admin.new(mock: true, kafka_config: { "no.such.property" => "1" }) }
      .to raise_error(ArgumentError, /property `no.such.property`: No such configuration property/)
  end

  # The secret is set the ways a deployment would, then looked for everywhere Prosody writes.
  it "never shows a secret in logs, errors, inspect, to_h, the effective configuration or probes" do
    port = TCPServer.new("127.0.0.1", 0).then { |server| server.addr[1].tap { server.close } }
    env = { "PROSODY_KAFKA_DEBUG" => "all", "PROSODY_KAFKA_CONFIG_SSL_KEY_PASSWORD" => "hunter4" }
    output = run_ruby(<<~RUBY, env)
      require "net/http"
      require "prosody"
      Prosody.logger = Logger.new($stdout, level: Logger::DEBUG)
      secrets = { cassandra_password: "hunter2",
                  kafka_config: { "sasl.username" => "app", "sasl.password" => "hunter3" } }
      config = Prosody::Configuration.new(**secrets)
      puts config.inspect, config.to_h, config.effective
      puts "from env: \#{Prosody::Configuration.new.effective[:kafka_config]}"
      client = Prosody::Client.new(mock: true, probe_host: "127.0.0.1", probe_port: #{port},
                                   group_id: "kc", subscribed_topics: "kc", **secrets)
      puts client.configuration, client.configuration.inspect
      client.subscribe(Class.new { def on_message(*) = nil; def on_timer(*) = nil }.new)
      %w[/readyz /livez /metrics].each { |path| puts Net::HTTP.get("127.0.0.1", path, #{port}) }
      begin
        Prosody::Client.new(mock: true, kafka_config: secrets[:kafka_config].merge("x.y" => "1"))
      rescue ArgumentError => e
        puts "error: \#{e.message}"
      end
      begin
        Prosody::Configuration.new(kafka_config: { "sasl.password" => "hunter3", "group.id" => "g" })
      rescue ArgumentError => e
        puts "error: \#{e.message}"
      end
      client.close
      Prosody::LogPump.flush
    RUBY

    expect(output).to include('from env: {"ssl.key.password"=>"<redacted>"}')
    expect(output).to include("cassandra_password=[REDACTED]", '"sasl.password"=>"[REDACTED]"',
                              '"sasl.username"=>"app"', "ready:", "error: invalid `kafka_config`",
                              "librdkafka CONF")
    expect(output.scan(/error: invalid `kafka_config` property `(\S+)`/).flatten)
      .to eq(%w[x.y group.id])
    %w[hunter2 hunter3 hunter4].each { |secret| expect(output).not_to include(secret) }
  end
end
