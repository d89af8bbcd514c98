# frozen_string_literal: true

require "spec_helper"
require "fileutils"
require "open3"
require "rbconfig"
require "rubygems/package"
require "tmpdir"
require "prosody/version"

# The source gem is prosody.gemspec itself: it compiles on install, so it needs rb_sys.
RSpec.describe "prosody.gemspec, the source gem" do
  let(:spec) { Gem::Specification.load(File.expand_path("../prosody.gemspec", __dir__)) }

  it "declares the extension, its Rust sources and rb_sys" do
    expect(spec.extensions).to eq(["ext/prosody/extconf.rb"])
    expect(spec.files).to include("Cargo.lock", "ext/prosody/Cargo.toml", "engine/Cargo.toml")
    expect(spec.runtime_dependencies.map(&:name)).to contain_exactly("async", "rb_sys")
  end

  # Prosody::Native::Bench compiles only with the `bench` Cargo feature, which no gem enables.
  it "packs none of the extension's bench code" do
    Dir.mktmpdir("prosody-source-gem") do |dir|
      built = File.join(dir, "prosody.gem")
      output, status = Open3.capture2e(Gem.ruby, "-S", "gem", "build", "prosody.gemspec",
                                       "--output", built, chdir: File.expand_path("..", __dir__))
      expect(status).to be_success, output

      contents = Gem::Package.new(built).contents
      expect(contents).to include("ext/prosody/src/lib.rs")
      expect(contents.grep(%r{\A(?:ext/.*bench|bench/)})).to be_empty
    end
  end

  # What a user runs and what `rails g` finds must ship: the command, the generators with their
  # templates, and the test helpers with their signatures.
  it "packs the prosody command, the Rails generators and the RSpec helpers" do
    expect(spec.executables).to eq(["prosody"])
    expect(spec.files).to include(
      "exe/prosody",
      "lib/generators/prosody/install/install_generator.rb",
      "lib/generators/prosody/install/templates/prosody.yml.tt",
      "lib/generators/prosody/handler/handler_generator.rb",
      "lib/generators/prosody/handler/templates/handler_spec.rb.tt",
      "lib/prosody/rspec.rb", "lib/prosody/rspec/produce_message.rb", "sig/prosody/rspec.rbs"
    )
  end
end

# Builds the precompiled gem with `rake gem:native` (reusing the release build that `rake
# compile` left in CARGO_TARGET_DIR), installs it as a user would, with `gem install --local`
# into a fresh GEM_HOME whose GEM_PATH still holds the system gems (async comes from there), on
# a PATH without Rust or a C toolchain, then runs the quick start from outside the repository.
RSpec.describe "precompiled gem", :slow do
  root = File.expand_path("..", __dir__)
  ruby_minor = RUBY_VERSION[/\A\d+\.\d+/]
  extension = "lib/prosody/#{ruby_minor}/prosody.#{RbConfig::CONFIG["DLEXT"]}"
  toolchain = %w[cargo rustc clang cmake cc gcc make]

  # Runs `command` and returns its output; raises with the output if it fails.
  def run!(label, env, *command, chdir:)
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    output, status = Open3.capture2e(env, *command, chdir:)
    raise "#{label} failed (#{status}):\n#{output}" unless status.success?

    seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    warn format("  %<label>s: %<seconds>.1fs", label:, seconds:)
    output
  end

  # The first executable called `name` on the caller's PATH.
  def which(name)
    ENV.fetch("PATH", "").split(File::PATH_SEPARATOR).map { |dir| File.join(dir, name) }
       .find { |path| File.file?(path) && File.executable?(path) }
  end

  # A bin directory holding only `ruby` and `gem`: what a user without build tools has.
  def bare_bin(dir)
    FileUtils.mkdir_p(dir)
    File.symlink(Gem.ruby, File.join(dir, "ruby"))
    File.symlink(which("gem") || File.join(RbConfig::CONFIG["bindir"], "gem"),
                 File.join(dir, "gem"))
    dir
  end

  # Keep the caller's Bundler and load-path settings out of the child processes.
  let(:clean_env) { ENV.keys.grep(/\A(BUNDLE_|RUBYOPT\z|RUBYLIB\z)/).to_h { |key| [key, nil] } }
  let(:tmp) { Dir.mktmpdir("prosody-native-gem") }
  let(:gem_home) { File.join(tmp, "gems") }
  let(:user_env) do
    clean_env.merge("PATH" => bare_bin(File.join(tmp, "bin")), "HOME" => tmp, "GEMRC" => nil,
                    "GEM_HOME" => gem_home,
                    "GEM_PATH" => [gem_home, *Gem.path].join(File::PATH_SEPARATOR))
  end
  let(:gem_name) { "prosody-#{Prosody::VERSION}-#{Gem::Platform.local}" }

  after { FileUtils.rm_rf(tmp) }

  it "installs without a toolchain and runs the quick start from outside the repository" do
    output = run!("rake gem:native", clean_env, Gem.ruby, "-S", "rake", "gem:native", chdir: root)
    built = output[/^built (.+\.gem)$/, 1]
    expect(built).to eq(File.join(root, "pkg", "#{gem_name}.gem"))

    package = Gem::Package.new(built)
    expect(package.contents).to include(extension)
    expect(package.contents.grep(%r{\A(ext|engine)/|\ACargo\.})).to be_empty
    expect(package.spec.extensions).to be_empty
    expect(package.spec.required_ruby_version.to_s).to eq("~> #{ruby_minor}.0")

    app = File.join(tmp, "app")
    FileUtils.mkdir_p(app)
    FileUtils.cp(built, app)
    FileUtils.cp(File.join(root, "examples", "quickstart.rb"), app)

    found = run!("toolchain lookup", user_env, Gem.ruby, "-e", <<~RUBY, chdir: app)
      dirs = ENV["PATH"].split(File::PATH_SEPARATOR)
      puts #{toolchain}.select { |tool| dirs.any? { |dir| File.executable?(File.join(dir, tool)) } }
    RUBY
    expect(found.split).to be_empty

    installed = run!("gem install", user_env, Gem.ruby, "-S", "gem", "install", "--local",
                     "--no-document", "#{gem_name}.gem", chdir: app)
    expect(installed).to include("Successfully installed #{gem_name}")
    expect(installed).not_to include("Building native extensions")

    # `gem contents` lists what the installed gem holds, and the command runs from its bin stub.
    installed_at = "#{gem_home}/gems/#{gem_name}/"
    contents = run!("gem contents", user_env, Gem.ruby, "-S", "gem", "contents", "prosody",
                    chdir: app).lines(chomp: true).map { |path| path.delete_prefix(installed_at) }
    expect(contents).to include("exe/prosody",
                                "lib/generators/prosody/install/install_generator.rb",
                                "lib/generators/prosody/handler/handler_generator.rb")
    version = run!("prosody --version", user_env, File.join(gem_home, "bin", "prosody"),
                   "--version", chdir: app)
    expect(version.lines.last).to eq("prosody #{Prosody::VERSION}\n")

    # Only prosody landed in the fresh GEM_HOME; async resolved from the system gems.
    expect(Dir.children(File.join(gem_home, "gems"))).to eq([gem_name])
    spec = Gem::Specification.load(File.join(gem_home, "specifications", "#{gem_name}.gemspec"))
    expect(spec.runtime_dependencies.map(&:name)).to eq(["async"])
    expect(spec.extensions).to be_empty
    expect(File).to exist(File.join(spec.full_gem_path, extension))
    # OpenSSL is compiled in (rdkafka's ssl-vendored), so TLS needs no libssl on the host.
    needed = run!("readelf", clean_env, "readelf", "-d", File.join(spec.full_gem_path, extension),
                  chdir: app).scan(/\(NEEDED\).*\[(.+)\]/).flatten
    expect(needed).to include(a_string_starting_with("libc.so"))
    expect(needed.grep(/libssl|libcrypto/)).to be_empty
    expect(Dir).not_to exist(File.join(spec.full_gem_path, "ext"))
    expect(Dir).not_to exist(spec.extension_dir)

    loaded = run!("load", user_env, Gem.ruby, "-e", <<~RUBY, chdir: app).lines(chomp: true)
      require "prosody"
      puts $LOADED_FEATURES.grep(%r{/prosody\\.#{RbConfig::CONFIG["DLEXT"]}\\z})
    RUBY
    expect(loaded.last).to eq(File.join(spec.full_gem_path, extension))

    quickstart = run!("quick start", user_env, Gem.ruby, "quickstart.rb", chdir: app)
    expect(quickstart.scan(/^ +handled (alice|bob) +order #\d/).size).to eq(5)
    expect(quickstart).to match(/^handled 5 orders, followed up alice and bob;/)
  end
end
