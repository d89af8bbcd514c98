# frozen_string_literal: true

require "spec_helper"
require "prosody"
require "logger"
require "stringio"

RSpec.describe Prosody::WorkerPool do
  # Stands in for Worker: its first call parks it as idle, and it keeps what it is handed.
  let(:worker_class) do
    Struct.new(:pool, :task, :handed) do
      def run = pool.ready(self, nil)
      def fiber = self
      def resume; end
      def assign(_event, payload) = (self.handed ||= []) << payload
    end
  end

  # Stands in for the Async task: runs a worker's block at once, and fails as Ruby does once
  # no more fibers can be made.
  let(:task_class) do
    Struct.new(:limit, :made) do
      def async
        raise FiberError, "can't alloc machine stack to fiber" if made >= limit

        self.made += 1
        yield
        :task
      end
    end
  end

  let(:event) { Struct.new(:id) }
  let(:log) { StringIO.new }
  let(:bridge) { double("bridge", flush: nil) }

  # Workers the pool built, whether or not their fiber could be started.
  let(:built) { [] }

  def pool(task, size)
    described_class.new(task, bridge, size, logger: Logger.new(log)) do |owner|
      worker_class.new(owner).tap { built << _1 }
    end
  end

  it "makes workers only as events need them, not max_concurrency up front" do
    task = task_class.new(1_000_000, 0)
    workers = pool(task, 50_000)
    expect(task.made).to eq(0)

    workers.dispatch([event.new(1), :first, event.new(2), :second])
    expect(task.made).to eq(2)
  end

  it "goes on with the workers it has when Ruby cannot make another fiber" do
    task = task_class.new(2, 0)
    workers = pool(task, 10)
    workers.dispatch([event.new(1), :a, event.new(2), :b, event.new(3), :c])
    made = built.select(&:task)
    expect(made.map(&:handed)).to eq([[:a], [:b]])
    expect(log.string).to include("another handler fiber (can't alloc machine stack to fiber)")
      .and include("going on with 2 of max_concurrency 10")

    # The third event waited in the backlog; the first worker to finish takes it.
    expect(workers.ready(made.first, event.new(1))).to be(true)
    expect(made.first.handed).to eq(%i[a c])
  end
end
