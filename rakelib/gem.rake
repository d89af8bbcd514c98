# frozen_string_literal: true

require "fileutils"
require "rubygems/package"
require "tmpdir"

# Packages the two release gems into pkg/. The source gem is prosody.gemspec as written: it
# compiles on install. The native gem is a copy of that spec for this platform and this Ruby
# minor version, carrying the extension that `rake compile` built instead of its sources.
module ProsodyGem
  ROOT = File.expand_path("..", __dir__)
  PKG = File.join(ROOT, "pkg")
  # Build inputs only the source gem needs: the Rust crates and the extconf that compiles them.
  BUILD_INPUTS = %r{\A(?:ext|engine)/|\ACargo\.(?:toml|lock)\z}
  # Runtime dependencies that only compiling needs.
  BUILD_DEPENDENCIES = %w[rb_sys].freeze

  module_function

  def source_spec
    Gem::Specification.load(File.join(ROOT, "prosody.gemspec")) or abort "cannot load the gemspec"
  end

  def ruby_minor
    RUBY_VERSION[/\A\d+\.\d+/]
  end

  # lib/prosody.rb requires `prosody/<major.minor>/prosody` first, so a native gem can hold one
  # extension per Ruby; this one holds the extension for the Ruby running rake.
  def extension_path
    "lib/prosody/#{ruby_minor}/prosody.#{RbConfig::CONFIG["DLEXT"]}"
  end

  # `dup` copies the spec's arrays (files, dependencies), so the loaded gemspec stays intact.
  # The extension only loads in the Ruby minor version it was compiled for.
  def native_spec
    spec = source_spec.dup
    spec.platform = Gem::Platform.local
    spec.required_ruby_version = "~> #{ruby_minor}.0"
    spec.extensions = []
    spec.files = native_files(spec.files)
    spec.dependencies.reject! { |dep| BUILD_DEPENDENCIES.include?(dep.name) }
    spec
  end

  def native_files(source_files)
    (source_files.grep_v(BUILD_INPUTS) + [extension_path]).sort
  end

  # Copies each of `files` from the checkout, and `extension` to its versioned path, into `dir`.
  def stage(dir, files, extension)
    files.each do |path|
      from = path == extension_path ? extension : File.join(ROOT, path)
      FileUtils.mkdir_p(File.join(dir, File.dirname(path)))
      FileUtils.cp(from, File.join(dir, path))
    end
  end

  # Builds the gem in a scratch tree, so lib/ never holds a versioned extension that would
  # shadow later `rake compile` output, and moves it into pkg/. Returns the gem's path.
  def build_native(extension)
    spec = native_spec
    Dir.mktmpdir("prosody-native-gem") do |dir|
      stage(dir, spec.files, extension)
      built = Dir.chdir(dir) { Gem::Package.build(spec) }
      FileUtils.mkdir_p(PKG)
      FileUtils.mv(File.join(dir, built), PKG)
      File.join(PKG, built)
    end
  end
end

namespace :gem do
  desc "Build the gem, install it into a temporary GEM_HOME and load it from outside the repo"
  task :smoke do
    sh "rspec", "--tag", "slow", "spec/gem_install_spec.rb"
  end

  desc "Build pkg/prosody-<version>.gem, the source gem (compiles on install)"
  task :source do
    mkdir_p ProsodyGem::PKG
    spec = ProsodyGem.source_spec
    sh Gem.ruby, "-S", "gem", "build", File.join(ProsodyGem::ROOT, "prosody.gemspec"),
       "--output", File.join(ProsodyGem::PKG, spec.file_name)
  end

  # The native gem must carry a release build with no optional features (the bench helpers
  # stay out of users' extensions): refuse anything else before compiling.
  task :release_profile do
    unless ProsodyCompile.profile == "release"
      abort "gem:native needs a release build, not PROSODY_CARGO_PROFILE=" \
            "#{ProsodyCompile.profile}: unset it or set it to release"
    end
    next if ProsodyCompile.features.empty?

    abort "gem:native builds without Cargo features, not PROSODY_CARGO_FEATURES=" \
          "#{ProsodyCompile.features.join(",")}: unset it"
  end

  desc "Build pkg/prosody-<version>-<platform>.gem, precompiled for this platform and Ruby"
  task native: %i[release_profile compile] do
    puts "built #{ProsodyGem.build_native(ProsodyCompile.destination)}"
  end
end
