# frozen_string_literal: true

# A handler whose messages list timer operations to run for their key, as [op, seconds] pairs.
# It records `scheduled` after each message and every timer that fires.
class TimerScript < Prosody::EventHandler
  OPERATIONS = {
    "schedule" => ->(context, time) { context.schedule(time) },
    "unschedule" => ->(context, time) { context.unschedule(time) },
    "clear_and_schedule" => ->(context, time) { context.clear_and_schedule(time) },
    "clear" => ->(context, _) { context.clear_scheduled }
  }.freeze

  attr_reader :listed, :fired, :errors

  def initialize
    super
    @listed = Queue.new
    @fired = Queue.new
    @errors = Queue.new
  end

  def on_message(context, message)
    message.payload.each do |op, seconds|
      OPERATIONS.fetch(op).call(context, seconds && Time.at(seconds))
    end
    @listed << [message.key, context.scheduled]
  rescue StandardError => e
    @errors << e
    raise
  end

  def on_timer(context, timer)
    @fired << [timer.key, timer.time, Time.now, context.scheduled]
  end
end
