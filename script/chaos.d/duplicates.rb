# frozen_string_literal: true

module Chaos
  # Counts messages handled more than once and blames each extra run on what happened to the
  # process that ran the message before it, then holds each fault to its bound.
  #
  # The bounds are the README's ("How often a message is handled twice"): a graceful stop (a
  # TERM, during a pending rebalance or not), a rebalance and a process that keeps its
  # partitions redeliver nothing that completed; a SIGKILL redelivers at most
  # `max_uncommitted` messages plus what the killed process completed in its last
  # `commit_interval` (commits are periodic), counted from its own log with one second of
  # slack for the commit's round trip; a broker outage, what completed from the last commit
  # before it until the broker answered again, plus `max_uncommitted` per process; a Cassandra
  # outage, nothing (handlers that need it fail and retry, and commits go on).
  class Duplicates
    GRACEFUL = %w[term term-pending stop].freeze

    # @return [Hash{String => Integer}] extra runs by cause
    attr_reader :by_cause

    # @param records [Records]
    def initialize(records)
      @r = records
      @by_cause = Hash.new(0)
      @by_fault = Hash.new(0)
      @r.runs.group_by(&:id).each_value do |runs|
        runs.sort_by(&:start).each_cons(2) { |prev, run| blame(prev, run) }
      end
    end

    def total = @by_cause.values.sum

    # @return [Array<(Records::Event, Integer, Integer)>] each fault, its redeliveries, its bound
    def per_fault
      (@r.faults + @r.outages).map { |fault| [fault, @by_fault[fault], bound(fault)] }
    end

    # Causes whose bound is 0 whatever happened.
    UNBOUNDED = %w[rebalance same-process].freeze

    # @return [Array<String>] what exceeded its bound
    def failures
      over = per_fault.select { |_, count, limit| count > limit }.map do |fault, count, limit|
        "#{fault.kind}#{" of #{fault.pid}" if fault.pid} redelivered #{count} > #{limit}"
      end
      over + UNBOUNDED.select { |c| @by_cause[c].positive? }.map do |cause|
        "#{@by_cause[cause]} duplicates (#{cause}, bound 0)"
      end
    end

    private

    # The earlier run's process was signalled before the later run began, or else the later
    # run began during an outage or within a minute of its end; otherwise the message came
    # back to the same process or moved with its partition.
    def blame(prev, run)
      fault = @r.faults.find { |f| f.pid == prev.pid && f.at <= run.start } || outage_around(run)
      @by_fault[fault] += 1 if fault
      @by_cause[fault ? "after #{fault.kind}" : cause_without_fault(prev, run)] += 1
    end

    def outage_around(run)
      @r.outages.find { |o| run.start.between?(o.at, o.end + 60) }
    end

    def cause_without_fault(prev, run) = prev.pid == run.pid ? "same-process" : "rebalance"

    def bound(fault)
      return 0 if GRACEFUL.include?(fault.kind) || fault.kind.start_with?("cassandra")

      return outage_bound(fault) if fault.is_a?(Records::Outage)

      mine = completed(fault.at - window, fault.at).count { |run| run.pid == fault.pid }
      @r.max_uncommitted + mine
    end

    # Commits fail while the broker is away: what every process completed from its last commit
    # before the outage until the broker was back.
    def outage_bound(outage)
      done = completed(outage.at - window, outage.end)
      (done.map(&:pid).uniq.size * @r.max_uncommitted) + done.size
    end

    def window = @r.commit_interval + 1

    def completed(after, until_)
      @r.runs.select { |run| run.finish > after && run.finish <= until_ }
    end
  end
end
