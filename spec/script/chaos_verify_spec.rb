# frozen_string_literal: true

require "stringio"
require "tmpdir"
require_relative "../../script/chaos.d/verify"

# The fault suite's verifier, fed hand-written logs: each broken invariant must fail the run
# and be named on the result line.
RSpec.describe "script/chaos verifier" do
  around do |example|
    Dir.mktmpdir("chaos-verify") do |dir|
      @dir = dir
      example.run
    end
  end

  let(:produced) { [%w[k1 0], %w[k1 1], %w[k2 0]] }
  # pid, key, seq, partition, offset, start, finish
  let(:runs) do
    [[100, "k1", 0, 0, 0, 1.0, 1.1], [100, "k1", 1, 0, 1, 1.2, 1.3], [100, "k2", 0, 1, 0, 1.0, 1.5]]
  end
  let(:events) { [[0.5, "spawn", 100], [5.0, "stop", 100], [5.2, "exit", 100, "0 nil after 0.2s"]] }
  let(:lag) { [[0, 2, 2], [1, 1, 1]] }
  let(:settings) do
    [%w[max_uncommitted 1], %w[commit_interval 1], %w[bootstrap x], %w[group g], %w[topic t]]
  end
  # pid, key, time, start, finish, wall-clock start
  let(:timer_runs) { [] }

  def verify
    write_run
    out = StringIO.new
    passed = Chaos::Verify.new(@dir, out:, lag:).call
    [passed, out.string.lines.last]
  end

  def write_run
    write("settings.tsv", settings)
    write("produced.tsv", produced.map { |key, seq| [key, seq, 0.1] })
    write("events.tsv", events)
    write_logs("handled", runs) { |l| l.first(7) + [0, 0, l[7] || "-"] }
    write_logs("timers", timer_runs) { |l| l + [0] }
  end

  # One log per process, as the workers write them (wall-clock fields made up where unused).
  def write_logs(kind, rows, &)
    rows.group_by(&:first).each { |pid, lines| write("#{kind}-#{pid}.log", lines.map(&)) }
  end

  def records = Chaos::Records.new(@dir, lag:).tap(&:load)

  def write(name, rows)
    lines = rows.map { |row| "#{row.map { |v| v.nil? ? "-" : v }.join("\t")}\n" }
    File.write(File.join(@dir, name), lines.join)
  end

  it "passes a run where every acknowledged message was handled once, in order" do
    expect(verify).to eq([true, "result                               PASS\n"])
  end

  it "fails on an acknowledged message nobody handled" do
    produced << %w[k2 1]
    expect(verify).to match([false, /1 acknowledged messages never handled/])
  end

  it "fails when two processes ran one key at the same time" do
    runs[1] = [200, "k1", 1, 0, 1, 1.05, 1.3]
    expect(verify).to match([false, /1 same-key overlapping runs/])
  end

  it "fails when a key's later message was first handled before an earlier one" do
    runs[0] = [100, "k1", 0, 0, 0, 1.4, 1.45]
    expect(verify).to match([false, /per-key order violations/])
  end

  it "allows a process to go back to a message handled before (a revoked partition returning)" do
    runs << [100, "k1", 0, 0, 0, 2.0, 2.1]
    expect(verify).to match([false, /1 duplicates \(same-process, bound 0\)/])
    expect(verify.last).not_to match(/order/)
  end

  it "passes a graceful stop that nothing came after" do
    events.insert(1, [1.6, "term", 100])
    expect(verify.first).to be(true)
  end

  it "holds a graceful stop to no redelivery of completed work" do
    events.insert(1, [1.35, "term", 100])
    runs << [200, "k1", 1, 0, 1, 2.0, 2.1]
    expect(verify).to match([false, /term of 100 redelivered 1 > 0/])
  end

  it "accepts a SIGKILL's redelivery up to max_uncommitted plus its last commit interval" do
    events.insert(1, [1.35, "kill", 100])
    runs.push([200, "k1", 0, 0, 0, 2.0, 2.1], [200, "k1", 1, 0, 1, 2.2, 2.3])
    expect(verify.first).to be(true)
  end

  it "fails a SIGKILL's redelivery beyond that bound" do
    # Nothing finished in the killed process's last commit interval: the bound is max_uncommitted.
    events.insert(1, [4.0, "kill", 100])
    runs.push([200, "k1", 0, 0, 0, 5.0, 5.1], [200, "k1", 1, 0, 1, 5.2, 5.3])
    expect(verify).to match([false, /kill of 100 redelivered 2 > 1/])
  end

  it "blames a broker outage for what its processes handle again, within its bound" do
    events.push([1.35, "broker-term", 900], [1.4, "broker-down", 900], [1.6, "broker-start", nil],
                [1.9, "broker-up", 901])
    runs << [100, "k1", 1, 0, 1, 2.0, 2.1]
    expect(verify.first).to be(true)
    expect(Chaos::Duplicates.new(records).by_cause).to eq("after broker-term" => 1)
  end

  it "allows no redelivery around a Cassandra outage, and reports its recovery" do
    events.push([1.35, "cassandra-stop", 800], [1.4, "cassandra-down", 800],
                [1.6, "cassandra-start", nil], [1.9, "cassandra-up", 801])
    write_run
    expect(records.outages.map { |o| [o.kind, o.restarted_after.round(2)] })
      .to eq([["cassandra-stop", 0.25]])
    runs << [100, "k1", 1, 0, 1, 2.0, 2.1]
    expect(verify).to match([false, /cassandra-stop redelivered 1 > 0/])
  end

  it "passes timers that fired once or more, none early" do
    runs[1] << 1_000
    timer_runs.push([100, "k1", 1_000, 2.0, 2.1, 1_000.2], [100, "k1", 1_000, 2.2, 2.3, 1_001.0])
    expect(verify.first).to be(true)
  end

  it "fails when a scheduled timer never fired" do
    runs[1] << 1_000
    expect(verify).to match([false, /1 scheduled timers never fired/])
  end

  it "fails when a timer fired before its time" do
    runs[1] << 1_000
    timer_runs.push([100, "k1", 1_000, 2.0, 2.1, 999.5])
    expect(verify).to match([false, /1 timers fired before their time/])
  end

  it "fails when a key's timer ran while one of its messages did" do
    runs[1] << 1_000
    timer_runs.push([100, "k1", 1_000, 1.25, 1.4, 1_000.2])
    expect(verify).to match([false, /1 same-key overlapping runs/])
  end

  it "fails while the group's committed offsets trail the partitions' ends" do
    lag[1] = [1, 0, 1]
    expect(verify).to match([false, /final lag 1/])
  end
end
