# frozen_string_literal: true

# Fails a hung example instead of letting it hold the whole run until CI's own limit.
#
# Past its limit, the watchdog prints every Ruby thread's backtrace and raises in the example's
# thread, which fails that example and lets the run go on. A thread blocked in native code
# cannot take the exception, and one holding Ruby's lock there stops every other Ruby thread
# too, so a separate process (hang_watcher.rb) has the last word: GRACE seconds later it prints
# the native stacks and kills the run.
module Watchdog
  # Seconds an example may take. Slow examples compile the gem, from a cold cache at worst.
  LIMIT = Float(ENV.fetch("PROSODY_SPEC_TIMEOUT", "300"))
  SLOW_LIMIT = Float(ENV.fetch("PROSODY_SLOW_SPEC_TIMEOUT", "1800"))
  # How long the example's thread gets to unwind after the exception before the process ends.
  GRACE = 30

  WATCHER = File.expand_path("hang_watcher.rb", __dir__)

  # Raised in an example that ran past its limit.
  class Expired < Exception; end # rubocop:disable Lint/InheritException

  module_function

  def guard(example)
    limit = example.metadata[:slow] ? SLOW_LIMIT : LIMIT
    tell_watcher("start #{limit + GRACE} #{example.location}")
    timer = arm(Thread.current, example.location, limit)
    example.run
  ensure
    timer&.kill&.join
    tell_watcher("end")
  end

  def arm(runner, location, limit)
    Thread.new do
      Thread.current.name = "spec-watchdog"
      sleep limit
      report("#{location} still running after #{limit.round}s; thread backtraces follow")
      runner.raise(Expired, "#{location} ran past its #{limit.round}s limit (backtraces above)")
    end
  end

  # The pipe to this process's watcher, started on first use (and again in a forked child,
  # whose examples the parent's watcher cannot see).
  def tell_watcher(line)
    if @watcher_pid != Process.pid
      reader, @watcher = IO.pipe
      Process.detach(Process.spawn(RbConfig.ruby, WATCHER, Process.pid.to_s, in: reader))
      reader.close
      @watcher.sync = true
      @watcher_pid = Process.pid
    end
    @watcher.puts(line)
  rescue SystemCallError, IOError => e
    warn "watchdog: cannot reach the hang watcher (#{e.message}); hangs will not be cut short"
  end

  def report(headline)
    warn "\nWATCHDOG (pid #{Process.pid}): #{headline}"
    Thread.list.each do |thread|
      next if thread == Thread.current

      warn "  #{thread.inspect}"
      (thread.backtrace || []).grep_v(%r{/rspec-core-}).first(25).each { |line| warn "    #{line}" }
    end
  end
end

RSpec.configure do |config|
  config.around(:example) { |example| Watchdog.guard(example) }
end
