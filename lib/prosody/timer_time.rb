# frozen_string_literal: true

module Prosody
  # Converts what users pass as a timer time into whole seconds since the epoch, the precision
  # timers are stored with.
  # @api private
  module TimerTime
    EARLIEST = Time.at(0).utc
    LATEST = Time.at((2**32) - 1).utc

    # @param time [Time, #to_time] e.g. a Time, DateTime or ActiveSupport::TimeWithZone
    # @return [Integer] seconds since the epoch, rounded half up
    # @raise [TypeError] if `time` is not a time
    # @raise [ArgumentError] if `time` is outside what a timer can hold
    def self.seconds(time)
      time = time.to_time if !time.is_a?(Time) && time.respond_to?(:to_time)
      raise TypeError, "timer time must be a Time, got #{time.class}" unless time.is_a?(Time)

      seconds = time.to_r.round(half: :up)
      return seconds if seconds.between?(0, LATEST.to_i)

      bound = seconds.negative? ? "before #{EARLIEST}, the earliest" : "after #{LATEST}, the latest"
      raise ArgumentError, "timer time #{time.utc} is #{bound} a timer can hold"
    end
  end
end
