# frozen_string_literal: true

require "spec_helper"
require "prosody"

RSpec.describe Prosody::Configuration do
  # Per option type: a valid Ruby value, the text the engine receives and reports back, the
  # Ruby value a reader derives from that text when it comes from the environment, and a value
  # of the wrong Ruby type.
  sample = Struct.new(:value, :native, :effective, :decoded, :wrong, keyword_init: true)
  samples = {
    "String" => sample.new(value: "sample_1", native: "sample_1", effective: "sample_1",
                           decoded: "sample_1", wrong: 42),
    "StringList" => sample.new(value: %w[a:1 b:2], native: "a:1,b:2", effective: "a:1,b:2",
                               decoded: %w[a:1 b:2], wrong: 42),
    "Bool" => sample.new(value: false, native: "false", effective: "false", decoded: false,
                         wrong: "yes"),
    "Integer" => sample.new(value: 7, native: "7", effective: "7", decoded: 7, wrong: "abc"),
    "Float" => sample.new(value: 0.5, native: "0.5", effective: "0.5", decoded: 0.5,
                          wrong: "abc"),
    "Duration" => sample.new(value: 90, native: "90", effective: "1m 30s", decoded: 90.0,
                             wrong: :ninety),
    "OptionalPort" => sample.new(value: 9090, native: "9090", effective: "9090", decoded: 9090,
                                 wrong: true),
    "Mode" => sample.new(value: :best_effort, native: "best_effort", effective: "best_effort",
                         decoded: :best_effort, wrong: 1),
    "SpanRelation" => sample.new(value: :follows_from, native: "follows_from",
                                 effective: "follows_from", decoded: :follows_from, wrong: 1)
  }.freeze
  # Ruby classes of the readers' values for unset options, per type (nil: no default).
  default_classes = {
    "String" => [String, NilClass], "StringList" => [Array], "Bool" => [TrueClass, FalseClass],
    "Integer" => [Integer], "Float" => [Float], "Duration" => [Float],
    "OptionalPort" => [Integer], "Mode" => [Symbol], "SpanRelation" => [Symbol]
  }.freeze
  specs = Prosody::Native.option_specs
  # Options the engine never reports in clear.
  secrets = %w[cassandra_password].freeze

  around do |example|
    saved = ENV.select { |name, _| name.start_with?("PROSODY_") }
    saved.each_key { |name| ENV.delete(name) }
    example.run
  ensure
    ENV.delete_if { |name, _| name.start_with?("PROSODY_") }
    ENV.update(saved)
  end

  it "has a sample for every option type" do
    expect(specs.map { |spec| spec[3] }.uniq - samples.keys).to be_empty
  end

  it "documents every option, with its type, variable and default, atop the source file" do
    source = File.read(File.expand_path("../../lib/prosody/configuration.rb", __dir__))
    kinds = { "List" => "StringList", "Port" => "OptionalPort", "Spans" => "SpanRelation" }
    table = source.scan(/^  # (\w+) +(\w+) +(PROSODY_\w+) +(.+)$/).map do |name, kind, env, default|
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
    if secrets.include?(name)
      row = row.dup.tap { |secret| secret.effective = secret.decoded = "<redacted>" }
    end

    describe "`#{name}` (#{kind})" do
      it "round-trips #{row.value.inspect} through the writer, reader and engine" do
        config = described_class.new(name => row.value)

        expect(config.public_send(name)).to eq(row.value)
        expect(config.to_native).to eq(name => row.native)
        expect(config.validate!).to be(config)
        expect(config.effective.fetch(name)).to eq(row.effective)
      end

      it "rejects #{row.wrong.inspect} with a TypeError naming the option and the value" do
        config = described_class.new { |c| c.public_send(:"#{name}=", row.wrong) }

        expect { config.validate! }
          .to raise_error(TypeError,
                          /\A`#{name}` expects .*, got #{Regexp.escape(row.wrong.inspect)}/)
      end

      it "reads #{env} when unset" do
        ENV[env] = row.native

        expect(described_class.new.public_send(name)).to eq(row.decoded)
        expect(described_class.new.effective.fetch(name)).to eq(row.effective)
      end

      it "reads the engine's default as a Ruby value when unset" do
        value = described_class.new.public_send(name)

        expect(default_classes.fetch(kind)).to include(value.class)
      end
    end
  end

  describe "defaults" do
    subject(:config) { described_class.new }

    it "converts the engine's defaults to Ruby values" do
      expect(config).to have_attributes(
        bootstrap_servers: [], group_id: nil, mock: false, mode: :pipeline, max_concurrency: 32,
        timeout: 240.0, poll_interval: 0.1, probe_port: 8000, idempotence_ttl: 604_800.0,
        defer_max_delay: 86_400.0, defer_failure_threshold: 0.9, scheduler_wait_weight: 200.0,
        cassandra_keyspace: "prosody", cassandra_retention: 31_557_600.0,
        message_spans: :child, timer_spans: :follows_from
      )
    end

    it "sets timeout to 80% of stall_threshold, set here or in the environment" do
      expect(described_class.new(stall_threshold: 10).timeout).to eq(8.0)
      expect(described_class.new(stall_threshold: 10).effective["timeout"]).to eq("8s")

      ENV["PROSODY_STALL_THRESHOLD"] = "15s"
      expect(config.timeout).to eq(12.0)
    end

    it "keeps an explicit timeout over the derived one" do
      config = described_class.new(stall_threshold: 10, timeout: 2)

      expect(config.effective.values_at("stall_threshold", "timeout")).to eq(%w[10s 2s])
    end
  end

  describe "values" do
    it "accepts durations as text and as Numeric seconds" do
      config = described_class.new(timeout: "5m", retry_base: 1.5, poll_interval: 0.0001,
                                   send_timeout: Rational(1, 4))

      expect(config.to_native).to include("retry_base" => "1.5", "poll_interval" => "0.0001")
      expect(config.effective.values_at("timeout", "retry_base", "poll_interval", "send_timeout"))
        .to eq(["5m", "1s 500ms", "100us", "250ms"])
    end

    it "prefers values set here over the environment" do
      ENV.update("PROSODY_MAX_CONCURRENCY" => "5", "PROSODY_TIMEOUT" => "1m",
                 "PROSODY_PROBE_PORT" => "9000")
      config = described_class.new(max_concurrency: 7, timeout: "2m", probe_port: nil)

      expect(config).to have_attributes(max_concurrency: 7, timeout: "2m", probe_port: nil)
      expect(config.effective.values_at("max_concurrency", "timeout", "probe_port"))
        .to eq(["7", "2m", nil])
      expect(described_class.new.max_concurrency).to eq(5)
    end

    it "reads durations from the environment as Float seconds" do
      ENV["PROSODY_TIMEOUT"] = "1h 30m"
      ENV["PROSODY_RETRY_BASE"] = "1.5"

      expect(described_class.new).to have_attributes(timeout: 5400.0, retry_base: 1.5)
    end

    it "rejects negative and infinite durations, naming the option" do
      expect { described_class.new(timeout: -1).validate! }
        .to raise_error(ArgumentError, "`timeout` must not be negative seconds, got -1")
      expect { described_class.new(retry_base: Float::INFINITY).validate! }
        .to raise_error(ArgumentError, "`retry_base` must be a finite number, got Infinity")
    end

    it 'takes "false" and "true" as booleans' do
      config = described_class.new(defer_enabled: "false", mock: "TRUE")

      expect(config.effective.values_at("defer_enabled", "mock")).to eq(%w[false true])
    end

    it "takes the mode as a Symbol or a String" do
      expect(described_class.new(mode: :best_effort).effective["mode"]).to eq("best_effort")
      expect(described_class.new(mode: "low_latency", failure_topic: "dlq").effective["mode"])
        .to eq("low_latency")
    end

    it "turns the probe server off with nil, false or \"none\"" do
      [nil, false, "none"].each do |off|
        config = described_class.new(probe_port: off)

        expect(config.to_native).to eq("probe_port" => "none")
        expect(config.effective["probe_port"]).to be_nil
      end
    end

    it "reads a disabled probe port from the environment as nil" do
      ENV["PROSODY_PROBE_PORT"] = "none"

      expect(described_class.new.probe_port).to be_nil
    end

    it "takes lists as comma-separated text or Arrays of Strings and Symbols" do
      config = described_class.new(bootstrap_servers: "a:1, b:2", subscribed_topics: %i[x y])

      expect(config.effective.values_at("bootstrap_servers", "subscribed_topics"))
        .to eq(%w[a:1,b:2 x,y])
    end

    it "rejects list entries that are not Strings or Symbols" do
      expect { described_class.new(subscribed_topics: ["orders", 1]).validate! }
        .to raise_error(TypeError,
                        "`subscribed_topics` expects Strings or Symbols, got 1 (Integer)")
    end

    it "takes Integers as digits in a String" do
      expect(described_class.new(max_concurrency: "12").effective["max_concurrency"]).to eq("12")
    end

    it "passes the engine's complaint about a bad value through, naming the option" do
      expect { described_class.new(max_concurrency: 0).validate! }
        .to raise_error(ArgumentError, /`max_concurrency`: "0" is not a positive integer/)
      expect { described_class.new(mode: :fastest).validate! }
        .to raise_error(ArgumentError, /`mode`: "fastest" is not one of/)
    end

    it "names the environment variable when a bad value came from there" do
      ENV["PROSODY_MAX_CONCURRENCY"] = "many"

      expect { described_class.new.validate! }
        .to raise_error(ArgumentError, /`max_concurrency` \(from PROSODY_MAX_CONCURRENCY\): "many"/)
    end

    it "requires failure_topic in low_latency mode" do
      config = described_class.new(mode: :low_latency)

      expect { config.validate! }.to raise_error(ArgumentError, /missing `failure_topic`/)
      config.failure_topic = "orders.dlq"
      expect(config.validate!).to be(config)
    end

    it "keeps readers of unset options working while another option is invalid" do
      config = described_class.new(mode: :low_latency, max_concurrency: "abc")

      expect(config.failure_topic).to be_nil
      expect(config.max_retries).to eq(3)
    end
  end

  describe "construction" do
    it "takes Symbol keys, String keys and a block" do
      config = described_class.new("group_id" => "billing", mock: true) do |c|
        c.max_concurrency = 4
      end

      expect(config.to_h).to eq(group_id: "billing", mock: true, max_concurrency: 4)
    end

    it "copies the settings of another configuration" do
      original = described_class.new(group_id: "billing")

      expect(described_class.new(original).to_h).to eq(group_id: "billing")
      expect(described_class.new(nil).to_h).to eq({})
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

    it "treats nil as unset, so the environment applies" do
      ENV["PROSODY_GROUP_ID"] = "from-env"
      config = described_class.new(group_id: "billing")
      config.group_id = nil

      expect(config.to_native).to eq({})
      expect(config.group_id).to eq("from-env")
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

    it "leaves the password out of the engine's report as well" do
      config = described_class.new(cassandra_password: "hunter2")

      expect(config.effective["cassandra_password"]).to eq("<redacted>")
      expect(config.to_native["cassandra_password"]).to eq("hunter2")
    end
  end
end
