# frozen_string_literal: true

# For a shared example group run again on the Kafka and Cassandra that `script/services` runs:
# a two-partition `topic` made before each example and deleted after, and `build_client`.
RSpec.shared_context "on real Kafka" do
  let(:bootstrap) { ENV.fetch("PROSODY_BOOTSTRAP_SERVERS", "127.0.0.1:9092") }
  let(:admin) { Prosody::Admin.new(bootstrap_servers: bootstrap) }

  before { admin.create_topic(topic, partitions: 2, replication: 1) }
  after { admin.delete_topic(topic) }

  def build_client(**options)
    Prosody::Client.new(bootstrap_servers: bootstrap, probe_port: false,
                        source_system: "real-spec", send_timeout: 10,
                        cassandra_nodes: ENV.fetch("PROSODY_CASSANDRA_NODES", "127.0.0.1:9042"),
                        **options)
  end
end
