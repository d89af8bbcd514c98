# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/prosody_env"

RSpec.describe Prosody::Configuration do
  # Per option type: a valid Ruby value, what the reader returns for it, the text the engine
  # receives, what a value of that text reads as in the environment, and values of the wrong
  # type and of the right type but out of bounds.
  sample = Struct.new(:value, :read, :native, :wrong, :bad, keyword_init: true)
  samples = {
    "String" => sample.new(value: :sample, read: "sample", native: "sample", wrong: 42),
    "StringList" => sample.new(value: [:a, "b:2"], read: %w[a b:2], native: "a,b:2", wrong: 42),
    "Bool" => sample.new(value: false, read: false, native: "false", wrong: 1, bad: "maybe"),
    "Integer" => sample.new(value: "7", read: 7, native: "7", wrong: 7.5, bad: -3),
    "Float" => sample.new(value: "0.5", read: 0.5, native: "0.5", wrong: :half, bad: "-1"),
    "Duration" => sample.new(value: "1m 30s", read: 90.0, native: "1m 30s", wrong: :ninety,
                             bad: -1),
    "OptionalPort" => sample.new(value: "9090", read: 9090, native: "9090", wrong: true,
                                 bad: 70_000),
    "Mode" => sample.new(value: "BEST_EFFORT", read: :best_effort, native: "BEST_EFFORT",
                         wrong: 1, bad: :fastest),
    "SpanRelation" => sample.new(value: "follows-from", read: :follows_from,
                                 native: "follows-from", wrong: 1, bad: :sibling),
    "Properties" => sample.new(value: { "linger.ms": 5 }, read: { "linger.ms" => "5" },
                               native: '{"linger.ms":"5"}', wrong: "linger.ms=5")
  }.freeze
  specs = Prosody::Native.option_specs

  include_context "without PROSODY_* variables"

  it "has a sample for every option type" do
    expect(specs.map { |spec| spec[3] }.uniq - samples.keys).to be_empty
  end

  it "documents every option, with its type, variable and default, atop the source file" do
    source = File.read(File.expand_path("../../lib/prosody/configuration.rb", __dir__))
    kinds = { "List" => "StringList", "Port" => "OptionalPort", "Spans" => "SpanRelation" }
    row = /^  # (\w+) +(\w+) +(PROSODY_\w+\*?) +(.+)$/ # kafka_config's variables end in `*`
    table = source.scan(row).map do |name, kind, env, default|
      [name, env, default, kinds.fetch(kind, kind)]
    end

    expect(table).to eq(specs.map { |name, env, default, kind, _doc| [name, env, default, kind] })
  end

  it "lists every option in OPTIONS, with its description" do
    option = described_class::OPTIONS.fetch(:max_retry_delay)

    expect(described_class::OPTIONS.keys).to eq(specs.map { |spec| spec[0].to_sym })
    expect(option.env).to eq("PROSODY_RETRY_MAX_DELAY")
    expect(option.kind).to eq("Duration")
    expect(option.doc).to match(/backoff/)
  end

  specs.each do |name, env, _default, kind, _doc|
    row = samples.fetch(kind)

    describe "`#{name}` (#{kind})" do
      it "reads back #{row.value.inspect} as #{row.read.inspect} and hands it to the engine" do
        config = described_class.new(name => row.value)

        expect(config.public_send(name)).to eq(row.read)
        expect(config.to_hash).to eq(name.to_sym => row.read)
        expect(config.effective.fetch(name.to_sym))
          .to eq(name == "cassandra_password" ? "<redacted>" : row.read)
      end

      it "reads nil when unset, whatever #{env} holds" do
        ENV[env] = row.native

        expect(described_class.new.public_send(name)).to be_nil
      end

      it "rejects #{row.wrong.inspect} on assignment with a TypeError naming both" do
        config = described_class.new

        expect { config.public_send(:"#{name}=", row.wrong) }
          .to raise_error(TypeError,
                          /\A`#{name}` expects .*, got #{Regexp.escape(row.wrong.inspect)}/)
        expect(config.public_send(name)).to be_nil
      end

      next unless row.bad

      it "rejects #{row.bad.inspect} on assignment with an ArgumentError naming both" do
        expect { described_class.new(name => row.bad) }
          .to raise_error(ArgumentError, /`#{name}`.*#{Regexp.escape(row.bad.to_s)}/)
      end
    end
  end

  describe "readers" do
    it "return what was set, and nil for what was not, ignoring the environment" do
      ENV.update("PROSODY_GROUP_ID" => "from-env", "PROSODY_MAX_CONCURRENCY" => "5")
      config = described_class.new(max_concurrency: 7)

      expect(config).to have_attributes(max_concurrency: 7, group_id: nil, mode: nil,
                                        timeout: nil, probe_port: nil, bootstrap_servers: nil)
    end

    it "unset an option assigned nil" do
      config = described_class.new(group_id: "billing", max_retries: 5)
      config.group_id = nil

      expect(config.group_id).to be_nil
      expect(config.to_hash).to eq(max_retries: 5)
      expect(config.to_native).to eq("max_retries" => "5")
    end

    it "return lists as Arrays of Strings, a single String as a one-element Array" do
      config = described_class.new(bootstrap_servers: "kafka:9092", subscribed_topics: %i[a b],
                                   allowed_events: Set["user."], cassandra_nodes: ["c:9042"])

      expect(config).to have_attributes(bootstrap_servers: ["kafka:9092"],
                                        subscribed_topics: %w[a b], allowed_events: ["user."],
                                        cassandra_nodes: ["c:9042"])
    end

    it "return the mode as a Symbol, whatever the letter case" do
      %w[pipeline PIPELINE Pipeline].each do |text|
        expect(described_class.new(mode: text).mode).to eq(:pipeline)
      end
      expect(described_class.new(mode: :low_latency).mode).to eq(:low_latency)
    end

    it "return false for a probe port turned off with :disabled, \"disabled\" or false" do
      [:disabled, "disabled", false].each do |off|
        config = described_class.new(probe_port: off)

        expect(config.probe_port).to be(false)
        expect(config.to_native).to eq("probe_port" => "none")
      end
    end

    it "return durations as Float seconds, from Numerics and from text" do
      config = described_class.new(timeout: 5, retry_base: Rational(1, 4), poll_interval: "100ms",
                                   stall_threshold: "1h 30m")

      expect(config).to have_attributes(timeout: 5.0, retry_base: 0.25, poll_interval: 0.1,
                                        stall_threshold: 5400.0)
    end
  end

  describe "checks on assignment" do
    subject(:config) { described_class.new }

    it "rejects an unknown mode, naming the option and the value" do
      expect { config.mode = :fastest }
        .to raise_error(ArgumentError, /`mode`: "fastest" is not one of/)
    end

    it "rejects negative and infinite durations" do
      expect { config.timeout = -1 }
        .to raise_error(ArgumentError, "`timeout` must not be negative seconds, got -1")
      expect { config.retry_base = Float::INFINITY }
        .to raise_error(ArgumentError, "`retry_base` must be a finite number, got Infinity")
      expect { config.timeout = "soon" }.to raise_error(ArgumentError, /`timeout`: "soon"/)
    end

    it "rejects a port out of range" do
      expect { config.probe_port = 70_000 }
        .to raise_error(ArgumentError, /`probe_port`: "70000" is not a port/)
    end

    it "rejects values the engine cannot take" do
      expect { config.max_concurrency = 0 }
        .to raise_error(ArgumentError, /`max_concurrency`: "0" is not a positive integer/)
      expect { config.cassandra_keyspace = "bad-name" }
        .to raise_error(ArgumentError, /`cassandra_keyspace`: "bad-name"/)
    end

    it "rejects a blank list of brokers" do
      ["", " , ", []].each do |blank|
        expect { config.bootstrap_servers = blank }
          .to raise_error(ArgumentError, /`bootstrap_servers`: .* at least one broker address/)
      end
    end

    it "rejects list entries that are not Strings or Symbols" do
      expect { config.subscribed_topics = ["orders", 1] }
        .to raise_error(TypeError,
                        "`subscribed_topics` expects Strings or Symbols, got 1 (Integer)")
    end

    it "keeps the previous value when an assignment is rejected" do
      config.max_concurrency = 8

      expect { config.max_concurrency = "many" }.to raise_error(TypeError)
      expect(config.max_concurrency).to eq(8)
    end
  end

  describe "#effective and #validate!" do
    it "apply the environment, then the defaults, to what is unset" do
      ENV.update("PROSODY_MAX_CONCURRENCY" => "5", "PROSODY_STALL_THRESHOLD" => "15s")
      effective = described_class.new(max_retries: 9).effective

      expect(effective).to include(max_concurrency: 5, max_retries: 9, stall_threshold: 15.0,
                                   timeout: 12.0, mode: :pipeline, probe_port: 8000,
                                   bootstrap_servers: [], group_id: nil)
      expect(effective).to be_frozen
    end

    it "prefer values set here over the environment" do
      ENV["PROSODY_MAX_CONCURRENCY"] = "5"

      expect(described_class.new(max_concurrency: 7).effective[:max_concurrency]).to eq(7)
    end

    it "name the environment variable when a bad value came from there" do
      ENV["PROSODY_MAX_CONCURRENCY"] = "many"

      expect { described_class.new.validate! }
        .to raise_error(ArgumentError, /`max_concurrency` \(from PROSODY_MAX_CONCURRENCY\): "many"/)
    end

    it "require failure_topic in low_latency mode" do
      config = described_class.new(mode: :low_latency)

      expect { config.validate! }.to raise_error(ArgumentError, /missing `failure_topic`/)
      config.failure_topic = "orders.dlq"
      expect(config.validate!).to be(config)
    end

    it "redact the Cassandra password" do
      config = described_class.new(cassandra_password: "hunter2")

      expect(config.effective[:cassandra_password]).to eq("<redacted>")
      expect(config.cassandra_password).to eq("hunter2")
      expect(config.to_native["cassandra_password"]).to eq("hunter2")
    end
  end

  describe "Client#configuration" do
    it "shows what the client uses: set values, then the environment, then the defaults" do
      ENV.update("PROSODY_MAX_CONCURRENCY" => "5", "PROSODY_GROUP_ID" => "from-env")
      config = described_class.new(mock: true, probe_port: false, max_retries: 9)
      client = Prosody::Client.new(config)

      expect(config.max_concurrency).to be_nil
      expect(client.configuration).to include(max_concurrency: 5, group_id: "from-env",
                                              max_retries: 9, probe_port: false,
                                              mode: :pipeline, timeout: 240.0)
      expect(client.configuration).to be_frozen
    ensure
      client&.close
    end
  end

  describe "construction" do
    it "takes Symbol keys, String keys and a block" do
      config = described_class.new("group_id" => "billing", mock: true) do |c|
        c.max_concurrency = 4
      end

      expect(config.to_hash).to eq(group_id: "billing", mock: true, max_concurrency: 4)
      expect(config.to_h).to eq(config.to_hash)
    end

    it "copies the settings of another configuration" do
      original = described_class.new(group_id: "billing")

      expect(described_class.new(original).to_hash).to eq(group_id: "billing")
      expect(described_class.new(original)).to eq(original)
      expect(described_class.new(nil).to_hash).to eq({})
    end

    it "rejects an unknown option, suggesting the closest name" do
      expect { described_class.new(max_concurency: 1) }
        .to raise_error(ArgumentError, "unknown option `max_concurency`; did you mean " \
                                       "`max_concurrency`?")
      expect { described_class.new("bootstrap_server" => "x") }
        .to raise_error(ArgumentError, /did you mean `bootstrap_servers`\?/)
    end

    it "rejects an unknown option without a close name, pointing at the list" do
      expect { described_class.new(zzz: 1) }
        .to raise_error(ArgumentError, "unknown option `zzz`; see Prosody::Configuration::OPTIONS")
    end

    it "rejects option names that are not Symbols or Strings" do
      expect { described_class.new(1 => 2) }
        .to raise_error(TypeError, "option names are Symbols or Strings, got 1 (Integer)")
    end

    it "copies independently" do
      original = described_class.new(group_id: "billing")
      copy = original.dup
      copy.group_id = "shipping"

      expect(original.group_id).to eq("billing")
    end
  end

  describe "#inspect" do
    it "shows the options set here and redacts the Cassandra password" do
      config = described_class.new(group_id: "billing", cassandra_password: "hunter2")

      expect(config.inspect).to eq(
        '#<Prosody::Configuration group_id="billing", cassandra_password=[REDACTED]>'
      )
      expect(config.to_s).not_to include("hunter2")
    end
  end
end
