# frozen_string_literal: true

require "spec_helper"
require "prosody"
require_relative "../support/state_helpers"

# Keyed state on the mock broker, where it lives in the process-wide memory store: the same
# semantics as Cassandra, so these examples show what production does.
RSpec.describe "Keyed state" do
  include StateHelpers

  let(:topic) { unique("state-spec") }
  let(:count) { Prosody.value("count") }
  let(:totals) { Prosody.map("totals") }
  let(:seen) { Prosody.set("seen") }
  let(:recent) { Prosody.deque("recent", capacity: 3) }

  after { @client&.close }

  describe "definitions" do
    it "are frozen values that compare by kind, name and options" do
      expect(count).to be_frozen
      expect(Prosody.value("count")).to eq(count)
      expect(Prosody.value("count", ttl: 5)).not_to eq(count)
      expect(recent.kind).to eq(:deque)
      expect(recent.options).to eq(capacity: 3)
    end

    it "name the option at fault" do
      expect do
        Prosody.value("v", capacity: 3)
      end.to raise_error(ArgumentError, /unknown option `capacity`/)
      expect do
        Prosody.map("m",
                    ttl: "1h")
      end.to raise_error(TypeError, /option `ttl` of map `m` must be an Integer/)
      expect { Prosody.value("v", ttl: 0) }.to raise_error(ArgumentError, /option `ttl`/)
      expect { Prosody.deque("d", capacity: 0) }.to raise_error(ArgumentError, /option `capacity`/)
      expect { Prosody.value("") }.to raise_error(ArgumentError, /name/)
    end

    it "cannot be published without a subsystem" do
      expect { mock_client(state_collections: [Prosody.value("shared", published: true)]) }
        .to raise_error(ArgumentError, /`shared` is published, but no `subsystem` is set/)
    end

    it "must have unique names per client" do
      expect { mock_client(state_collections: [count, Prosody.map("count")]) }
        .to raise_error(ArgumentError, /`count` is registered twice/)
      expect do
        mock_client(state_collections: ["count"])
      end.to raise_error(TypeError, /state_collections/)
    end
  end

  it "keeps a value per key across events, and round-trips false, 0 and empty strings" do
    results = handle([count]) do |context, message|
      state = context.state(count)
      before = state.get
      state.set(message.payload["v"])
      before
    end
    send_all({ "v" => 1 }, { "v" => false }, { "v" => 0 }, { "v" => "" }, { "v" => { "a" => [1] } })
    expect(pop_all(results, 5)).to eq([nil, 1, false, 0, ""])
  end

  it "refuses nil as a value" do
    results = handle([count]) { |context, _| context.state(count).set(nil) }
    send_all({})
    error = pop_all(results, 1).first
    expect(error).to be_a(Prosody::NullValueError)
    expect(error.message).to include("count")
  end

  it "leaves nothing behind when the handler raises: the retry reads the old state" do
    results = handle([count]) do |context, _message|
      state = context.state(count)
      value = state.get
      state.set((value || 0) + 10)
      raise Prosody::TransientError, "first attempt fails" if context.attempt == 1

      [context.attempt, value]
    end
    send_all({ "reraise" => true }, { "reraise" => true })
    outcomes = pop_all(results, 4).map { |r| r.is_a?(Exception) ? r.class : r }
    expect(outcomes).to eq([Prosody::TransientError, [2, nil], Prosody::TransientError, [2, 10]])
  end

  it "scans a map in key order with bounds, prefix, limit and reverse" do
    results = handle([totals]) do |context, _|
      map = context.state(totals)
      { "b" => 2, "a" => 1, "c" => false, "ab" => 3 }.each { |k, v| map.set(k, v) }
      map.delete("ab")
      [map.each_pair.to_a, map.each_key(reverse: true, limit: 2).to_a,
       map.each_pair(prefix: "a").to_a, map.each_key(after: "a", to: "c").to_a,
       map.get_many(%w[a ab c]), map.key?("ab"), map.key?("c"), map.each_pair.class]
    end
    send_all({})
    expect(pop_all(results, 1).first).to eq(
      [[["a", 1], ["b", 2], ["c", false]], %w[c b], [["a", 1]], %w[b c], [1, nil, false], false,
       true, Enumerator]
    )
  end

  it "keeps set members and deque elements, trimming a deque to its capacity" do
    results = handle([seen, recent]) do |context, message|
      set = context.state(seen)
      deque = context.state(recent)
      set.add(message.payload["id"])
      deque.push(message.payload["id"])
      [set.each.to_a, set.include?("x"), deque.each.to_a, deque.length, deque.first, deque.get(-1)]
    end
    send_all({ "id" => "b" }, { "id" => "a" }, { "id" => "c" }, { "id" => "d" })
    expect(pop_all(results, 4).last).to eq([%w[a b c d], false, %w[a c d], 3, "a", "d"])
  end

  it "pops, shifts and unshifts at both ends of a deque" do
    results = handle([recent]) do |context, _|
      deque = context.state(recent)
      deque.push(2)
      deque.unshift(1)
      deque.push(3)
      [deque.shift, deque.pop, deque.each.to_a, deque.pop, deque.pop]
    end
    send_all({})
    expect(pop_all(results, 1).first).to eq([1, 3, [2], 2, nil])
  end

  it "commits and rolls back on request, answering :applied or :no_op" do
    results = handle([count]) do |context, _|
      state = context.state(count)
      answers = [state.rollback]
      state.set(1)
      answers << state.rollback << state.get
      state.set(2)
      answers << state.commit << state.commit
    end
    send_all({})
    expect(pop_all(results, 1).first).to eq([:no_op, :applied, nil, :applied, :no_op])
  end

  it "fails cleanly for an unregistered collection and for a handle kept past its handler" do
    kept = Queue.new
    results = handle([count]) do |context, _|
      kept << context.state(count)
      context.state(totals).get("x")
    end
    # The key's second message runs only once the first one's handler has returned.
    send_all({}, {})
    errors = pop_all(results, 2)
    expect(errors.map(&:class)).to eq([Prosody::PermanentStateError] * 2)
    expect(errors.first.message).to include("`totals` is not registered")
    handle_after = pop_all(kept, 1).first
    expect { handle_after.get }.to raise_error(Prosody::PermanentStateError, /handler has returned/)
  end

  it "refuses a name the group first used as another kind" do
    group = unique("state-identity")
    results = handle([count], group_id: group) { |context, _| context.state(count).set(1) }
    send_all({})
    expect(pop_all(results, 1)).to eq([nil])
    @client.close

    other = Prosody.map("count")
    results = handle([other], group_id: group) { |context, _| context.state(other).get("a") }
    send_all({})
    error = pop_all(results, 1).first
    expect(error).to be_a(Prosody::PermanentStateError)
    expect(error.message).to include("first used by group `#{group}` as value:bytes")
  end

  it "works from a thread the handler starts, waiting without the GVL" do
    results = handle([count]) do |context, _|
      state = context.state(count)
      Thread.new { state.set(5) }.join
      Thread.new { state.get }.value
    end
    send_all({})
    expect(pop_all(results, 1)).to eq([5])
  end

  it "returns the same handle for the same definition within a handler call" do
    results = handle([count]) do |context, _|
      context.state(count).equal?(context.state(Prosody.value("count")))
    end
    send_all({})
    expect(pop_all(results, 1).first).to be(true)
  end

  describe "published state" do
    let(:subsystem) { unique("billing") }
    let(:published) { Prosody.map("published-totals", published: true) }

    # Polls `block` until it returns true, failing after 10 seconds.
    def wait_until
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
      until yield
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          raise "condition not met within 10 s"
        end

        sleep 0.01
      end
    end

    it "is read by another client through the subsystem, committed data only" do
      cached = Prosody.map("published-totals", published: true, read_cache: 60)
      fresh = Prosody.map("published-totals", published: true, read_cache: false)
      reader = mock_client
      expect(reader.state(subsystem, cached).get("k", "eur")).to be_nil

      results = handle([published], subsystem:) do |context, message|
        context.state(published).set("eur", message.payload["n"])
        context.state(published).set("usd", 2)
        nil
      end
      send_all({ "n" => 1 })
      pop_all(results, 1)
      view = reader.state(subsystem, fresh)
      wait_until { view.get("k", "eur") == 1 }
      expect(view.each_pair("k").to_a).to eq([["eur", 1], ["usd", 2]])
      expect(view.get_many("k", %w[usd gbp])).to eq([2, nil])
      expect(reader.state(subsystem, cached).get("k", "eur")).to be_nil,
                                                                 "an answer is kept for read_cache"
    ensure
      reader&.close
    end

    it "refuses a reader whose definition is another kind, on point reads and scans alike" do
      results = handle([published], subsystem:) do |context, _|
        context.state(published).set("eur", 1)
        nil
      end
      send_all({})
      pop_all(results, 1)
      reader = mock_client
      options = { published: true, read_cache: false }
      as_value = reader.state(subsystem, Prosody.value("published-totals", **options))
      as_set = reader.state(subsystem, Prosody.set("published-totals", **options))
      [-> { as_value.get("k") }, -> { as_set.each("k").to_a }].each do |read|
        expect(&read).to raise_error(Prosody::PermanentStateError,
                                     /`published-totals`.*first used .* as map/)
      end
    ensure
      reader&.close
    end

    it "refuses a collection that is not published" do
      reader = mock_client
      expect { reader.state(subsystem, count).get("k") }
        .to raise_error(Prosody::PermanentStateError, /`count`: is not published/)
    ensure
      reader&.close
    end
  end
end
