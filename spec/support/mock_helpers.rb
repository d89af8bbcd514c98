# frozen_string_literal: true

require "securerandom"
require "timeout"

# Helpers for specs that run clients against the in-process mock broker.
module MockHelpers
  def unique(prefix)
    "#{prefix}-#{SecureRandom.hex(6)}"
  end

  def mock_client(**options)
    Prosody::Client.new(mock: true, probe_port: false, source_system: "spec-producer", **options)
  end

  # Pops `count` items from `queue`, failing the example after `seconds`.
  def pop_all(queue, count, seconds: 20)
    Timeout.timeout(seconds) { Array.new(count) { queue.pop } }
  end

  # A handler that records every message and runs an optional block per message.
  class RecordingHandler
    attr_reader :events

    def initialize(&block)
      @events = Queue.new
      @block = block
    end

    def on_message(context, message)
      @block&.call(context, message)
      @events << message
    end

    def on_timer(_context, _timer); end
  end
end

RSpec.configure do |config|
  # Engine log lines are asserted where they matter; elsewhere they would only be noise.
  config.before { Prosody.logger = Logger.new(File::NULL) }
  config.after { Prosody.logger = nil }
end
