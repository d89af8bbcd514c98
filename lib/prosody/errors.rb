# frozen_string_literal: true

module Prosody
  # Base class of every error Prosody raises, the native extension's included.
  class Error < StandardError; end

  # A handler failure that retrying cannot fix; the engine gives up on the event at once.
  class PermanentError < Error
    # @return [Boolean] always true: the engine does not retry the event.
    def permanent? = true
  end

  # A handler failure that may pass; the engine retries the event (the default for any error).
  class TransientError < Error
    # @return [Boolean] always false: the engine retries the event.
    def permanent? = false
  end

  # Raised by {Client#unsubscribe} when the client has no active subscription.
  class NotSubscribedError < Error; end

  # Raised by {Client#subscribe} when the client already has a handler subscribed.
  class AlreadySubscribedError < Error; end

  # Raised when a {Client} is used after it was closed.
  class ClosedError < Error; end
end
