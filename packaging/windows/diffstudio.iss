; Inno Setup script for diffstudio on Windows (x64). UNTESTED: written for Inno Setup 6, not yet built.
; Built by packaging/windows/build_windows.ps1, which passes /DAppVersion=... after making dist\diffstudio
; with PyInstaller; by hand:  iscc /DAppVersion=0.1.0 packaging\windows\diffstudio.iss
#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z diffstudio.iss
#endif

[Setup]
AppId={{6B0E3C52-6A0F-4D8B-9E57-2F1D7C4A9B10}
AppName=diffstudio
AppVersion={#AppVersion}
AppPublisher=diffstudio developers
AppComments=Train and explore denoising diffusion models (DDPM) on your own images
DefaultDirName={autopf}\diffstudio
DefaultGroupName=diffstudio
DisableProgramGroupPage=yes
; per-user install without admin rights is offered; user data goes to %LOCALAPPDATA%\diffstudio, never here
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=diffstudio-{#AppVersion}-setup
SetupIconFile=..\..\resources\icons\diffstudio.ico
UninstallDisplayIcon={app}\diffstudio.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "..\..\dist\diffstudio\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\diffstudio"; Filename: "{app}\diffstudio.exe"
Name: "{group}\{cm:UninstallProgram,diffstudio}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\diffstudio"; Filename: "{app}\diffstudio.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\diffstudio.exe"; Description: "{cm:LaunchProgram,diffstudio}"; Flags: nowait postinstall skipifsilent
