# frozen_string_literal: true

# The handler the chaos workers run (`prosody -r script/chaos.d/handler.rb ChaosHandler`).
# Each handled message appends one line to this process's handled-PID.log, written and flushed
# before the handler returns, so a SIGKILL loses at most the lines of handlers that had not
# finished (and whose offsets cannot have been committed either). Tab-separated fields:
#
#   pid key seq partition offset mono_start mono_end real_start real_end due
#
# A message whose payload has a `due` time (epoch seconds) schedules a timer for it first; `due`
# is "-" otherwise. Each timer run appends to timers-PID.log:
#
#   pid key time mono_start mono_end real_start real_end
#
# CLOCK_MONOTONIC is one clock for every process on the machine, so the verifier compares
# intervals across processes with it; the realtime stamps place timers against their time.
class ChaosHandler < Prosody::EventHandler
  LOG_DIR = ENV.fetch("CHAOS_LOG_DIR")
  CLOCKS = [Process::CLOCK_MONOTONIC, Process::CLOCK_REALTIME].freeze
  # Handlers sleep up to this long, so that several are in flight when a fault strikes.
  MAX_SLEEP = Float(ENV.fetch("CHAOS_HANDLER_MS", "2")) / 1000

  def self.log(kind)
    @logs ||= {}
    @logs[kind] ||= File.open(File.join(LOG_DIR, "#{kind}-#{Process.pid}.log"), "a").tap do |file|
      file.sync = true
    end
  end

  def on_message(context, message)
    payload = message.payload
    times = timed { context.schedule(Time.at(payload["due"])) if payload["due"] }
    write("handled", Process.pid, message.key, payload["seq"], message.partition, message.offset,
          *times, payload["due"] || "-")
  end

  def on_timer(_context, timer)
    write("timers", Process.pid, timer.key, timer.time.to_i, *timed)
  end

  private

  # Runs the block, if any, then sleeps a little; returns the start and end stamps.
  def timed
    mono_start, real_start = stamps
    yield if block_given?
    sleep(rand * MAX_SLEEP)
    mono_end, real_end = stamps
    [mono_start, mono_end, real_start, real_end]
  end

  def write(kind, *fields)
    self.class.log(kind).write("#{fields.join("\t")}\n")
  end

  def stamps
    CLOCKS.map { |clock| Process.clock_gettime(clock) }
  end
end
