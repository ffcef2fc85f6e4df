/**
 * `--auto-restore-primary`: the configured primary, serving as a healthy linked backup, asks for
 * the role back once it has been healthy for `beatsNeeded` heartbeats in a row, and asks once per
 * healthy stretch (a refused or failed hand-back is not asked again until health breaks and
 * returns), so a pair never ping-pongs on every heartbeat.
 */
export class AutoRestore {
  private healthyBeats = 0;
  private asked = false;

  constructor(private readonly beatsNeeded: number) {}

  /** One heartbeat; true when it is time to ask for the role back. */
  beat(healthy: boolean): boolean {
    this.healthyBeats = healthy ? this.healthyBeats + 1 : 0;
    if (!healthy) this.asked = false;
    if (!healthy || this.asked || this.healthyBeats < this.beatsNeeded) return false;
    this.asked = true;
    return true;
  }

  get beats(): number {
    return this.healthyBeats;
  }
}
