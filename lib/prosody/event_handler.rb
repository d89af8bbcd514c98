# frozen_string_literal: true

module Prosody
  # Base class for the object given to {Client#subscribe}. Subclass it, define {#on_message}
  # (and {#on_timer} if the handler schedules timers), and optionally mark exceptions with the
  # {ErrorClassification} macros `permanent` and `transient`.
  #
  # Define `on_excise(context, message)` too to receive excise records (see {Client#excise}):
  # it is not defined here, and a handler without it never sees them.
  #
  # The client calls the handler from many fibers at once (one event per key at a time), so keep
  # per-event state in local variables rather than in instance variables.
  #
  # @example
  #   class OrderHandler < Prosody::EventHandler
  #     permanent :on_message, KeyError
  #
  #     def on_message(context, message)
  #       order = message.payload.fetch("order")
  #       context.schedule(Time.now + 60) if order["status"] == "pending"
  #     end
  #
  #     def on_timer(context, timer)
  #       Prosody.logger.info("order #{timer.key} still pending at #{timer.time}")
  #     end
  #   end
  class EventHandler
    extend ErrorClassification

    # Handles one message. Raise to report a failure: it is retried unless classified as
    # permanent. When cancelled (timeout, rebalance, shutdown) the handler receives the stop
    # exception at its next yield point; `context.should_cancel?` serves CPU-bound loops.
    #
    # @param context [Context] timers and cancellation for the message's key
    # @param message [Message] the message to handle
    # @return [void]
    # @raise [NotImplementedError] unless a subclass defines it
    # @example
    #   def on_message(context, message)
    #     Billing.charge(message.key, message.payload)
    #   end
    def on_message(context, message)
      raise NotImplementedError, "#{self.class} must implement #on_message(context, message)"
    end

    # Handles a timer that fired for a key, scheduled earlier through {Context#schedule}.
    #
    # @param context [Context] timers and cancellation for the timer's key
    # @param timer [Timer] the timer that fired
    # @return [void]
    # @raise [NotImplementedError] unless a subclass defines it
    # @example
    #   def on_timer(context, timer)
    #     Reminders.send_for(timer.key)
    #   end
    def on_timer(context, timer)
      raise NotImplementedError, "#{self.class} must implement #on_timer(context, timer) to " \
                                 "handle the timers it schedules"
    end
  end
end
