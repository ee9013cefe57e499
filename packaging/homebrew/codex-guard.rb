# Homebrew formula template for codex-guard. The release tool replaces the version and
# sha256_<target> tokens (sha256 from SHA256SUMS) and publishes the result to the tap as
# Formula/codex-guard.rb. The archives are the release's prebuilt ones; Homebrew unpacks
# them into their top directory (codex-guard-<version>-<target>/).
class CodexGuard < Formula
  desc "Guardrails for the OpenAI Codex CLI: hooks checked against local rules and Akto"
  homepage "https://github.com/codex-guard/codex-guard"
  version "{{version}}"
  license "Apache-2.0"

  on_macos do
    on_arm do
      url "https://github.com/codex-guard/codex-guard/releases/download/v{{version}}/codex-guard-{{version}}-aarch64-apple-darwin.tar.gz"
      sha256 "{{sha256_aarch64-apple-darwin}}"
    end
    on_intel do
      url "https://github.com/codex-guard/codex-guard/releases/download/v{{version}}/codex-guard-{{version}}-x86_64-apple-darwin.tar.gz"
      sha256 "{{sha256_x86_64-apple-darwin}}"
    end
  end

  on_linux do
    on_arm do
      url "https://github.com/codex-guard/codex-guard/releases/download/v{{version}}/codex-guard-{{version}}-aarch64-unknown-linux-gnu.tar.gz"
      sha256 "{{sha256_aarch64-unknown-linux-gnu}}"
    end
    on_intel do
      url "https://github.com/codex-guard/codex-guard/releases/download/v{{version}}/codex-guard-{{version}}-x86_64-unknown-linux-gnu.tar.gz"
      sha256 "{{sha256_x86_64-unknown-linux-gnu}}"
    end
  end

  def install
    # Side by side: `codex-guard setup` installs the codex-guard-hook found beside it.
    bin.install "codex-guard", "codex-guard-hook"
    man1.install Dir["man/*.1"]
    bash_completion.install "completions/codex-guard.bash" => "codex-guard"
    zsh_completion.install "completions/_codex-guard"
    fish_completion.install "completions/codex-guard.fish"
    # `codex-guard self-update` leaves a packaged install to its package manager.
    (pkgshare/"installed-by-package").write "Homebrew: brew upgrade codex-guard\n"
  end

  def caveats
    <<~EOS
      codex-guard is installed but not set up. To protect your own Codex home, run:
        codex-guard setup
      For every user of this machine (machine-wide, as root):
        sudo codex-guard setup --managed --config /etc/codex-guard/fleet.toml
      Setup copies the hook runtime into place: after `brew upgrade codex-guard`, run
      `codex-guard setup --keep-settings` (with --managed and sudo for a machine-wide
      install) so Codex runs the new version. Homebrew keeps codex-guard up to date:
      `codex-guard self-update` refuses and says so.
    EOS
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/codex-guard --version")
    assert_match version.to_s, shell_output("#{bin}/codex-guard-hook --version")
  end
end
