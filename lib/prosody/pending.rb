# frozen_string_literal: true

module Prosody
  module Native
    # An engine operation started from a fiber (see Client#send_message and the Context timer
    # methods). The engine signals a pipe when it finishes, so waiting on it suspends only the
    # calling fiber and the scheduler runs others meanwhile.
    # @api private
    class Pending
      # Waits for the operation and returns its value, or raises its error.
      def value
        io = IO.for_fd(fileno, autoclose: false)
        io.wait_readable until done?
        result
      end
    end
  end
end
