# frozen_string_literal: true

# The handler the chaos workers run (`prosody -r script/chaos.d/handler.rb ChaosHandler`).
# Each handled message appends one line to this process's log, written and flushed before the
# handler returns, so a SIGKILL loses at most the lines of handlers that had not finished (and
# whose offsets cannot have been committed either). Tab-separated fields:
#
#   pid key seq partition offset mono_start mono_end real_start real_end
#
# CLOCK_MONOTONIC is one clock for every process on the machine, so the verifier compares
# intervals across processes with it; the realtime stamps are for people reading the log.
class ChaosHandler < Prosody::EventHandler
  LOG_DIR = ENV.fetch("CHAOS_LOG_DIR")
  CLOCKS = [Process::CLOCK_MONOTONIC, Process::CLOCK_REALTIME].freeze
  # Handlers sleep up to this long, so that several are in flight when a fault strikes.
  MAX_SLEEP = Float(ENV.fetch("CHAOS_HANDLER_MS", "2")) / 1000

  def self.log
    @log ||= File.open(File.join(LOG_DIR, "handled-#{Process.pid}.log"), "a").tap do |file|
      file.sync = true
    end
  end

  def on_message(_context, message)
    mono_start, real_start = stamps
    sleep(rand * MAX_SLEEP)
    mono_end, real_end = stamps
    fields = [Process.pid, message.key, message.payload["seq"], message.partition, message.offset]
    self.class.log.write("#{[*fields, mono_start, mono_end, real_start, real_end].join("\t")}\n")
  end

  private

  def stamps
    CLOCKS.map { |clock| Process.clock_gettime(clock) }
  end
end
