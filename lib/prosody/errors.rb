# frozen_string_literal: true

module Prosody
  # Base class of every error Prosody raises, the native extension's included.
  class Error < StandardError; end

  # Base class of the errors a handler raises to tell the engine whether to retry. A subclass
  # answers {#permanent?}; raise {PermanentError} or {TransientError}, or subclass this one.
  class EventHandlerError < Error
    # @return [Boolean] true when retrying cannot help
    # @raise [NotImplementedError] unless a subclass defines it
    def permanent?
      raise NotImplementedError, "#{self.class} must implement #permanent?"
    end
  end

  # A handler failure that retrying cannot fix; the engine gives up on the event at once.
  class PermanentError < EventHandlerError
    # @return [Boolean] always true: the engine does not retry the event.
    def permanent? = true
  end

  # A handler failure that may pass; the engine retries the event (the default for any error).
  class TransientError < EventHandlerError
    # @return [Boolean] always false: the engine retries the event.
    def permanent? = false
  end

  # Raised by every method of a {Client} used in a process forked after the client was built.
  # The client's connections and threads belong to the parent; build a new client in the
  # child. A RuntimeError, so a plain `rescue` catches it.
  class ForkError < RuntimeError; end

  # Raised by {Client#unsubscribe} when the client has no active subscription.
  class NotSubscribedError < Error; end

  # Raised by {Client#subscribe} when the client already has a handler subscribed.
  class AlreadySubscribedError < Error; end

  # Raised when a {Client} is used after it was closed.
  class ClosedError < Error; end
  # Keyed state used wrongly: an unregistered collection, a name redeployed as another kind, a
  # handle kept after its handler returned, or a newer owner of the key's partition. Permanent.
  class PermanentStateError < PermanentError; end
  # Keyed state's store failed or another commit won a race; the event is retried.
  class TransientStateError < TransientError; end
  # Raised when `nil` is given as a keyed-state value: nil means absent and is never stored.
  class NullValueError < PermanentStateError; end
end
