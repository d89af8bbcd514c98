# frozen_string_literal: true

# The chaos run's producer: sends CHAOS_MESSAGES JSON messages over CHAOS_KEYS keys to
# CHAOS_TOPIC at CHAOS_RATE messages a second, and appends one line per acknowledged send to
# CHAOS_PRODUCED ("key seq mono", tab-separated). Message i goes to key i % keys with seq
# i / keys. Each key's messages are sent by one fiber, one at a time, so a key's sequence
# numbers reach the topic in order; a send that fails is recorded as "nack" and not retried
# (a retry would put it after later ones). Connection options come from PROSODY_* variables.
# Payloads carry no "id", so deduplication stays off and every redelivery shows in the logs,
# unless CHAOS_IDS=1 (runs with a Cassandra of their own, to put deduplication under its faults).
require "async"
require "async/barrier"
require "prosody"

topic = ENV.fetch("CHAOS_TOPIC")
total = Integer(ENV.fetch("CHAOS_MESSAGES"))
keys = Integer(ENV.fetch("CHAOS_KEYS"))
rate = Float(ENV.fetch("CHAOS_RATE"))
out = File.open(ENV.fetch("CHAOS_PRODUCED"), "a")
out.sync = true

# Every CHAOS_TIMER_EVERY-th message of a key asks its handler for a timer CHAOS_TIMER_DELAY
# seconds after it was sent.
timer_every = Integer(ENV.fetch("CHAOS_TIMER_EVERY", "10"))
timer_delay = Integer(ENV.fetch("CHAOS_TIMER_DELAY", "5"))
IDS = ENV.fetch("CHAOS_IDS", "0") == "1"
def payload(key, seq, every, delay)
  body = { "k" => key, "seq" => seq }
  body["id"] = "#{key}/#{seq}" if IDS
  body["due"] = Time.now.to_i + delay if every.positive? && (seq % every).zero?
  body
end

client = Prosody::Client.new(send_timeout: 10)
now = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
started = now.call

Sync do
  barrier = Async::Barrier.new
  [keys, total].min.times do |k|
    barrier.async do
      key = format("key-%05d", k)
      k.step(total - 1, keys).each_with_index do |i, seq|
        delay = started + (i / rate) - now.call
        sleep(delay) if delay.positive?
        begin
          client.send_message(topic, key, payload(key, seq, timer_every, timer_delay))
          out.write("#{key}\t#{seq}\t#{now.call}\n")
        rescue Prosody::Error => e
          out.write("nack\t#{key}\t#{seq}\t#{e.class}: #{e.message.tr("\t\n", "  ")}\n")
        end
      end
    end
  end
  barrier.wait
end
client.close
