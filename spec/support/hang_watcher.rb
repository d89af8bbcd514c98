# frozen_string_literal: true

# Watches an RSpec process from outside (see watchdog.rb). The process writes one line as each
# example starts ("start SECONDS LOCATION") and one as it ends ("end"). An example still
# running SECONDS after its start had a chance to fail on its own and did not: its process is
# stuck, perhaps in native code holding Ruby's lock, where no Ruby thread can act. This prints
# every native thread's stack (with gdb, when installed) and kills the process, so a hang costs
# minutes and leaves a trace instead of using up the CI job.
require "io/wait"

parent = Integer(ARGV.fetch(0))
deadline = nil
location = nil

loop do
  timeout = deadline && [deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0].max
  if $stdin.wait_readable(timeout)
    line = $stdin.gets
    break if line.nil? # the process finished (or died): nothing left to watch

    kind, seconds, location = line.chomp.split(" ", 3)
    now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    deadline = kind == "start" ? now + Float(seconds) : nil
    next
  end

  warn "\nHANG WATCHER: #{location} is stuck in pid #{parent}; native stacks follow, then a kill"
  if system("command -v gdb >/dev/null 2>&1")
    system("gdb", "-p", parent.to_s, "-batch", "-ex", "thread apply all bt 30",
           out: $stderr, err: File::NULL)
  end
  Process.kill(:KILL, parent)
  break
end
