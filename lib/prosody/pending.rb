# frozen_string_literal: true

require "io/wait"

module Prosody
  module Native
    # An engine operation that has started: what every native call that may wait returns (a
    # send, a timer operation, unsubscribe, topic admin). Call {#value} once to wait for it.
    # @api private
    class Pending
      # Waits for the operation and returns its value, or raises its error. In a non-blocking
      # fiber under a scheduler (a handler, an `Async` task) only the calling fiber waits, on a
      # pipe the engine writes when it is done, and the reactor runs other fibers meanwhile.
      # Anywhere else the thread waits without the GVL, so other Ruby threads keep running.
      def value
        if Fiber.scheduler && !Fiber.current.blocking?
          io = IO.for_fd(fileno, autoclose: false)
          io.wait_readable until done?
        end
        blocking_value
      end
    end
  end
end
