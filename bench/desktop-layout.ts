/**
 * Where bench:desktops puts its objects: tenants, then each tenant's skills, then four objects per
 * desktop (its person, DN, place and agent login), in dbid order from `base`.
 */
export interface DesktopLayout {
  base: number;
  tenants: number;
  skillsPerTenant: number;
}

export interface DesktopObjects {
  tenant: number;
  person: number;
  dn: number;
  place: number;
  agentLogin: number;
}

export function tenantDbid(layout: DesktopLayout, t: number): number {
  return layout.base + t;
}

export function skillDbid(layout: DesktopLayout, t: number, k: number): number {
  return layout.base + layout.tenants + t * layout.skillsPerTenant + k;
}

export function desktopObjects(layout: DesktopLayout, desktop: number): DesktopObjects {
  const first = layout.base + layout.tenants + layout.tenants * layout.skillsPerTenant + desktop * 4;
  return { tenant: tenantDbid(layout, desktop % layout.tenants), person: first, dn: first + 1, place: first + 2, agentLogin: first + 3 };
}
