# frozen_string_literal: true

require "spec_helper"
require "prosody"

RSpec.describe "Prosody after fork" do
  # Runs the block in a forked child and returns what it wrote, one line per call.
  def in_child
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      yield writer
    ensure
      writer.close
      exit!(0)
    end
    writer.close
    output = reader.read
    _, status = Process.wait2(pid)
    expect(status.exitstatus).to eq(0)
    output
  end

  let(:client) do
    Prosody::Client.new(mock: true, probe_port: false, source_system: "fork-spec",
                        group_id: "fork-spec", subscribed_topics: "fork-spec", send_timeout: 10)
  end
  let(:calls) do
    {
      send_message: ["fork-spec", "k", { "n" => 2 }], subscribe: [Class.new do
        def on_message(_context, _message); end
        def on_timer(_context, _timer); end
      end.new],
      unsubscribe: [], consumer_state: [], source_system: [], assigned_partitions: [],
      is_stalled?: [], configuration: []
    }
  end

  it "raises from every client method in the child an error `rescue RuntimeError` catches" do
    client.send_message("fork-spec", "k", { "n" => 1 })
    output = in_child do |out|
      calls.each do |name, args|
        client.public_send(name, *args)
        out.puts("#{name}: returned")
      rescue RuntimeError => e
        out.puts("#{name}: #{e.class}: #{e.message}")
      end
    end

    lines = output.lines(chomp: true)
    expect(lines.size).to eq(calls.size)
    lines.each do |line|
      expect(line)
        .to match(/\A\w+\??: Prosody::ForkError: .*after fork.*build a new client in the child/)
    end
  end

  it "keeps the parent's client working" do
    in_child { |out| out.puts(client.consumer_state) rescue out.puts("raised") } # rubocop:disable Style/RescueModifier

    expect(client.consumer_state).to eq(:configured)
    expect { client.send_message("fork-spec", "k", { "n" => 3 }) }.not_to raise_error
  end

  it "lets the child close its copy quietly, so at_exit hooks do not fail" do
    output = in_child { |out| out.puts(client.close.inspect) }

    expect(output).to eq("nil\n")
    expect(client.consumer_state).to eq(:configured)
  end

  it "lets the child build and use a client of its own" do
    client.send_message("fork-spec", "k", { "n" => 1 })
    output = in_child do |out|
      own = Prosody::Client.new(mock: true, probe_port: false, source_system: "fork-child")
      own.send_message("fork-spec", "k", { "n" => 4 })
      out.puts("sent")
    end

    expect(output).to eq("sent\n")
  end
end
