# frozen_string_literal: true

require "open3"
require "rbconfig"

# Runs a script in a fresh Ruby that loads this checkout's lib/, for what a process does only
# once (reading its environment at start-up, its log output from the first line).
module RubyChild
  LIB = File.expand_path("../../lib", __dir__)

  # Ruby 3.1's buffered `$stdout` can drop or repeat lines when two threads write to it (here the
  # script and the log pump), so the child writes through.
  SYNC = "$stdout.sync = true"

  # Returns the child's output (stdout and stderr), failing the example unless it exited 0.
  def run_ruby(script, env = {}, requires = [])
    flags = requires.map { |name| "-r#{name}" }
    command = [RbConfig.ruby, "-I", LIB, *flags, "-e", SYNC, "-e", script]
    output, status = Open3.capture2e(env, *command)
    expect(status).to be_success, output
    output
  end
end
