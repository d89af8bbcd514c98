# frozen_string_literal: true

require "socket"
require "spec_helper"
require "prosody"
require_relative "../support/mock_helpers"

# Issue #14, security: `kafka_config` reaches a SASL_SSL (SCRAM-SHA-512) listener, and a wrong
# password fails a send with an error that says so. script/services gives its Kafka that listener
# (127.0.0.1:9094, override with PROSODY_KAFKA_SASL_SSL) and the CA (PROSODY_KAFKA_TLS_DIR); a
# Kafka started before that has neither until restarted, and these examples skip saying so.
RSpec.describe "Prosody against a SASL_SSL listener", :integration do
  include MockHelpers

  let(:plaintext) { ENV.fetch("PROSODY_BOOTSTRAP_SERVERS", "127.0.0.1:9092") }
  let(:secured) { ENV.fetch("PROSODY_KAFKA_SASL_SSL", "127.0.0.1:9094") }
  let(:tls_dir) do
    ENV.fetch("PROSODY_KAFKA_TLS_DIR") do
      home = ENV.fetch("PROSODY_SERVICES_HOME", File.join(Dir.home, ".cache/prosody-services"))
      File.join(home, "kafka/tls")
    end
  end
  let(:topic) { unique("secured-spec") }
  let(:admin) { Prosody::Admin.new(bootstrap_servers: plaintext) }

  before do
    ca = File.join(tls_dir, "ca.pem")
    skip "no test CA at #{ca}; restart Kafka with script/services" unless File.file?(ca)
    host, port = secured.split(":")
    begin
      Socket.tcp(host, Integer(port), connect_timeout: 2).close
    rescue SystemCallError, SocketError
      skip "nothing listens on #{secured}; restart Kafka with script/services"
    end
  end

  def scram_client(password, **options)
    Prosody::Client.new(
      bootstrap_servers: secured, probe_port: false, source_system: "secured-spec", send_timeout: 5,
      cassandra_nodes: ENV.fetch("PROSODY_CASSANDRA_NODES", "127.0.0.1:9042"),
      kafka_config: { "security.protocol" => "SASL_SSL", "sasl.mechanism" => "SCRAM-SHA-512",
                      "sasl.username" => "prosody", "sasl.password" => password,
                      "ssl.ca.location" => File.join(tls_dir, "ca.pem") },
      **options
    )
  end

  it "produces and consumes with the right password and a trusted CA" do
    admin.create_topic(topic, partitions: 1, replication: 1)
    handler = MockHelpers::RecordingHandler.new
    client = scram_client("prosody-secret", group_id: unique("secured-group"),
                                            subscribed_topics: topic)
    client.subscribe(handler)
    client.send_message(topic, "k", { "secured" => true })
    expect(pop_all(handler.events, 1, seconds: 60).first.payload).to eq("secured" => true)
    expect(client.broker_error).to be_nil
  ensure
    client&.unsubscribe
    admin.delete_topic(topic)
  end

  it "fails a send with a wrong password, saying the brokers refused it, within send_timeout" do
    client = scram_client("not-the-password")
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    expect { client.send_message(topic, "k", { "n" => 1 }) }
      .to raise_error(Prosody::TransientError, /refused this client.*authentication/i) { |error|
        expect(error.message).not_to include("not-the-password")
      }
    expect(Process.clock_gettime(Process::CLOCK_MONOTONIC) - started).to be < 15
  end
end
