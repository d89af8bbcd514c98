# frozen_string_literal: true

require "optparse"

module Chaos
  # script/chaos's command line: the run's sizes, its fault schedule and where its broker is.
  module Options
    FULL = { messages: 100_000, keys: 1000, rate: 400,
             schedule: "20:kill,80:term,140:rebalance-term" }.freeze
    QUICK = { messages: 4000, keys: 200, rate: 50, schedule: "10:kill,62:term" }.freeze
    # Added to the default schedules when the run has a broker, or a Cassandra, of its own.
    BROKER_FAULTS = { FULL => ",200:broker-term,240:broker-kill",
                      QUICK => ",70:broker-term" }.freeze
    CASSANDRA_FAULTS = { FULL => ",110:cassandra-stop", QUICK => ",20:cassandra-stop" }.freeze
    FAULTS = %w[kill term rebalance-term broker-term broker-kill cassandra-stop].freeze

    module_function

    # @return [Array(Hash, String)] the run's options, or a directory to verify
    def parse(argv)
      opts = defaults
      verify = nil
      parser(opts).on("--verify DIR", "only verify a finished run") { |v| verify = v }.parse!(argv)
      sizes = opts.delete(:sizes)
      opts[:schedule] = opts.delete(:given_schedule) || default_schedule(opts, sizes)
      opts[:schedule] = schedule(opts) unless verify
      [opts, verify]
    end

    def default_schedule(opts, sizes)
      opts[:schedule] + (opts[:own_kafka] ? BROKER_FAULTS.fetch(sizes) : "") +
        (opts[:own_cassandra] ? CASSANDRA_FAULTS.fetch(sizes) : "")
    end

    def defaults
      home = File.join(Dir.home, ".cache", "prosody-chaos")
      { partitions: 8, workers: 3, handler_ms: 2, drain_timeout: 120, stop_timeout: 60,
        max_uncommitted: 64, commit_interval: 1, broker_down: 10, cassandra_down: 30,
        broker_home: ENV.fetch("PROSODY_CHAOS_SERVICES_HOME", home),
        bootstrap: ENV.fetch("PROSODY_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        cassandra: ENV.fetch("PROSODY_CASSANDRA_NODES", "127.0.0.1:9042") }.merge(FULL, sizes: FULL)
    end

    def parser(opts)
      OptionParser.new do |o|
        o.banner = "Usage: script/chaos [options]"
        o.on("--quick", "#{QUICK[:messages]} messages, one kill, one graceful stop") do
          opts.merge!(QUICK, sizes: QUICK)
        end
        sizes(o, opts)
        faults(o, opts)
        o.on("--dir DIR", "run directory (tmp/chaos/TIMESTAMP)") { |v| opts[:dir] = v }
      end
    end

    def sizes(parser, opts)
      [[:messages, Integer, "messages to produce (#{FULL[:messages]})"],
       [:keys, Integer, "keys they spread over (#{FULL[:keys]})"],
       [:rate, Float, "messages a second (#{FULL[:rate]})"],
       [:partitions, Integer, "partitions of the fresh topic (8)"],
       [:workers, Integer, "worker processes (3)"],
       [:handler_ms, Float, "longest handler sleep in ms (2)"],
       [:drain_timeout, Float,
        "seconds to wait for the last messages (120)"]].each do |name, type, text|
        parser.on("--#{name.to_s.tr("_", "-")} N", type, text) { |v| opts[name] = v }
      end
    end

    def faults(parser, opts)
      parser.on("--schedule LIST", "faults as SECONDS:FAULT,... with FAULT one of " \
                                   "#{FAULTS.join(", ")} (#{FULL[:schedule]})") do |v|
        opts[:given_schedule] = v # taken as it is, whatever --quick and --own-kafka say
      end
      services(parser, opts)
    end

    def services(parser, opts)
      parser.on("--own-kafka [PORT]", Integer, "run a Kafka of our own on PORT and PORT+1 " \
                                               "(19092): broker faults need it") do |v|
        opts[:own_kafka] = v || 19_092
      end
      parser.on("--broker-down S", Float, "seconds a stopped broker stays down (10)") do |v|
        opts[:broker_down] = v
      end
      parser.on("--own-cassandra [PORT]", Integer, "run a Cassandra of our own on PORT (29042), " \
                                                   "with deduplication on: cassandra-stop needs " \
                                                   "it") do |v|
        opts[:own_cassandra] = v || 29_042
      end
      parser.on("--cassandra-down S", Float, "seconds a stopped Cassandra stays down (30)") do |v|
        opts[:cassandra_down] = v
      end
    end

    # The option a fault on a service needs, by the fault's prefix: never stop the shared ones.
    NEEDS = { "broker" => [:own_kafka, "--own-kafka (never stop the shared broker)"],
              "cassandra" => [:own_cassandra, "--own-cassandra (never stop the shared Cassandra)"] }
            .freeze

    def schedule(opts)
      opts[:schedule].split(",").map do |item|
        at, fault = item.split(":", 2)
        raise OptionParser::InvalidArgument, "--schedule: unknown fault #{fault.inspect}" unless
          FAULTS.include?(fault)

        option, text = NEEDS[fault.split("-").first]
        raise OptionParser::InvalidArgument, "--schedule: #{fault} needs #{text}" if
          option && !opts[option]

        [Float(at), fault]
      end
    end
  end
end
