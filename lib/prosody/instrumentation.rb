# frozen_string_literal: true

module Prosody
  # ActiveSupport::Notifications events, for apps that have ActiveSupport loaded:
  #
  # | Event                     | Payload                                                    |
  # |---------------------------|------------------------------------------------------------|
  # | `process_message.prosody` | topic, partition, offset, key, attempt, outcome, duration  |
  # | `process_timer.prosody`   | key, time, attempt, outcome, duration                      |
  # | `handler_error.prosody`   | the above for the event, error, kind (:transient/:permanent) |
  # | `send_message.prosody`    | topic, key, payload                                        |
  #
  # `outcome` is `:success`, `:transient`, `:permanent`, `:cancelled` or `:exited`; `duration` is
  # the handler's run time in milliseconds (the event's own `duration` says the same). Subscribers
  # run in the handler's fiber, so they see its fiber-local state.
  #
  # Prosody checks for listeners before building anything: with no subscriber, or without
  # ActiveSupport, an event costs one lookup.
  #
  # @example Log slow handlers
  #   ActiveSupport::Notifications.subscribe("process_message.prosody") do |event|
  #     next if event.duration < 500
  #
  #     Rails.logger.warn("slow #{event.payload[:topic]} #{event.payload[:key]}")
  #   end
  module Instrumentation
    PROCESS_MESSAGE = "process_message.prosody"
    PROCESS_TIMER = "process_timer.prosody"
    HANDLER_ERROR = "handler_error.prosody"
    SEND_MESSAGE = "send_message.prosody"

    module_function

    # @param name [String] an event name
    # @return [Boolean] whether ActiveSupport is loaded and something subscribes to `name`
    def listening?(name)
      return false unless defined?(ActiveSupport::Notifications)

      ActiveSupport::Notifications.notifier.listening?(name)
    end

    # Instruments the block as `name` with `payload`; the block may add to the payload.
    def instrument(name, payload, &)
      ActiveSupport::Notifications.instrument(name, payload, &)
    end

    # @return [String] the event that running `payload` (a {Message} or a {Timer}) instruments
    # @api private
    def process_event(payload)
      payload.is_a?(Timer) ? PROCESS_TIMER : PROCESS_MESSAGE
    end

    # What the process events say about `payload` (a {Message} or a {Timer}) before it runs.
    # @api private
    def event_payload(context, payload)
      details = if payload.is_a?(Timer)
                  { key: payload.key, time: payload.time }
                else
                  { topic: payload.topic, partition: payload.partition, offset: payload.offset,
                    key: payload.key }
                end
      details[:attempt] = context.attempt
      details
    end

    # Announces a failed attempt as `handler_error.prosody`; a subscriber that raises is
    # logged, never allowed to cost the event its outcome.
    # @api private
    def handler_error(context, payload, error, kind, logger)
      return unless listening?(HANDLER_ERROR)

      details = event_payload(context, payload)
      details.merge!(error:, kind: kind.to_sym)
      instrument(HANDLER_ERROR, details)
    rescue StandardError => e
      logger.warn("prosody: a handler_error.prosody subscriber failed: #{e.class}: #{e.message}")
    end
  end
end
