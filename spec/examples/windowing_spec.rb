# frozen_string_literal: true

require "spec_helper"
require "open3"
require "rbconfig"

# Runs examples/windowing.rb as a user would, in a Ruby of its own: on the mock broker, and on
# the real Kafka and Cassandra when integration examples run.
RSpec.describe "examples/windowing.rb" do
  let(:root) { File.expand_path("../..", __dir__) }

  def run_example(env)
    example = File.join(root, "examples", "windowing.rb")
    output, status = Open3.capture2e(env, RbConfig.ruby, "-I", File.join(root, "lib"), example)
    expect(status).to be_success, output
    output
  end

  # All five readings are sent before the consumer starts, so each sensor's window (2 s) holds
  # every later reading of that sensor. The later readings wait in a message deque, so the
  # values a window reports come from messages read back from Kafka when its timer fires.
  def expect_windows(output)
    expect(output).to include("boiler: first reading 61.5, window open for 2 s")
    expect(output).to include("fridge: first reading 4.1, window open for 2 s")
    expect(output).to include("boiler: window closed, 2 later messages: 62.0, 62.4")
    expect(output).to include("fridge: window closed, 1 later message: 4.3")
    expect(output).to include("reported 5 readings: 2 at once, the rest in 2 windows")
  end

  it "notifies the first reading of a window and flushes the rest on its timer (mock broker)" do
    expect_windows(run_example("PROSODY_BOOTSTRAP_SERVERS" => nil))
  end

  it "does the same on real Kafka and Cassandra", :integration do
    env = { "PROSODY_BOOTSTRAP_SERVERS" => ENV.fetch("PROSODY_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            "PROSODY_CASSANDRA_NODES" => ENV.fetch("PROSODY_CASSANDRA_NODES", "127.0.0.1:9042") }
    expect_windows(run_example(env))
  end
end
